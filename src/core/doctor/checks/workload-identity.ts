import type { V1Pod, V1ServiceAccount } from "@kubernetes/client-node";
import { workloadIdentityProfile, type WorkloadIdentityProfile } from "../../../azure/cluster-workload-identity.js";
import { FederatedCredentialService, type FederatedCredential } from "../../../azure/federated-credentials.js";
import { IdentityService, type UserAssignedIdentity } from "../../../azure/identities.js";
import { CLIENT_ID_ANNOTATION, ENV, envOf, USE_LABEL } from "../../../kube/workload-identity.js";
import { isWorkloadKind, podTemplateOf, type Workload, type WorkloadKind } from "../../../kube/workloads.js";
import type { DoctorContext } from "../context.js";
import { cannotRead } from "../reads.js";

/**
 * What the workload identity checks (21-26) read, each once per run through the context's cache: the pods and
 * ServiceAccounts of the scope that use workload identity, the cluster's issuer, identities by client id, and their
 * federated credentials. Small functions over DoctorContext's reads; the context itself is not extended.
 */

export const wiPodRef = (p: V1Pod) => `Pod ${p.metadata?.namespace}/${p.metadata?.name}`;

const active = (p: V1Pod) => !p.metadata?.deletionTimestamp && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed";

/** Pods of the scope labelled azure.workload.identity/use=true (not ended, not terminating). */
export async function workloadIdentityPods(ctx: DoctorContext): Promise<V1Pod[]> {
  return (await ctx.pods()).filter((p) => active(p) && p.metadata?.labels?.[USE_LABEL] === "true");
}

export function serviceAccounts(ctx: DoctorContext): Promise<V1ServiceAccount[]> {
  return ctx.list<V1ServiceAccount>("v1", "ServiceAccount", ctx.scope.namespace);
}

/** The scope's ServiceAccounts annotated with a client id. */
export async function federatedServiceAccounts(ctx: DoctorContext): Promise<V1ServiceAccount[]> {
  return (await serviceAccounts(ctx)).filter((s) => s.metadata?.annotations?.[CLIENT_ID_ANNOTATION]);
}

/** The client id a pod's SDK uses: AZURE_CLIENT_ID as the webhook injected it (or the container set it). */
export function podClientId(p: V1Pod): string | undefined {
  for (const c of p.spec?.containers ?? []) {
    if (!envOf(c, ENV.tokenFile)) continue;
    const id = envOf(c, ENV.clientId);
    if (id) return id;
  }
  return undefined;
}

/** Workloads of the scope (the kinds the cluster serves). */
export async function scopeWorkloads(ctx: DoctorContext): Promise<Workload[]> {
  const kinds: WorkloadKind[] = ["Deployment", "StatefulSet", "DaemonSet", "CronJob"];
  const lists = await Promise.all(kinds.map((k) => ctx.list<Workload>(k === "CronJob" ? "batch/v1" : "apps/v1", k, ctx.scope.namespace).catch(() => [] as Workload[])));
  return lists.flat().filter((w) => isWorkloadKind(w.kind));
}

/** Whether anything in scope uses workload identity: a labelled pod or template, or an annotated ServiceAccount. */
export async function usesWorkloadIdentity(ctx: DoctorContext): Promise<boolean> {
  const [pods, accounts, workloads] = await Promise.all([workloadIdentityPods(ctx), federatedServiceAccounts(ctx), scopeWorkloads(ctx)]);
  return pods.length > 0 || accounts.length > 0 || workloads.some((w) => podTemplateOf(w)?.metadata?.labels?.[USE_LABEL] === "true" || w.metadata.labels?.[USE_LABEL] === "true");
}

/** The AKS cluster's OIDC issuer and workload identity switches. */
export function clusterProfile(ctx: DoctorContext): Promise<WorkloadIdentityProfile> {
  return ctx.cached("wi-profile", async () => {
    const cluster = await ctx.aksCluster();
    try {
      return await workloadIdentityProfile(ctx.azure, cluster.resourceGroup, cluster.name);
    } catch (err) {
      throw cannotRead(err, "read Microsoft.ContainerService/managedClusters");
    }
  });
}

/** The user-assigned identity with this client id in the session's subscription, if any. */
export function identityByClientId(ctx: DoctorContext, clientId: string): Promise<UserAssignedIdentity | undefined> {
  return ctx
    .cached("wi-identities", async () => {
      try {
        return await new IdentityService(ctx.azure).listAll();
      } catch (err) {
        throw cannotRead(err, "read Microsoft.ManagedIdentity/userAssignedIdentities");
      }
    })
    .then((all) => all.find((i) => i.clientId.toLowerCase() === clientId.toLowerCase()));
}

export function credentialsOf(ctx: DoctorContext, identityId: string): Promise<FederatedCredential[]> {
  return ctx.cached(`wi-credentials|${identityId.toLowerCase()}`, async () => {
    try {
      return await new FederatedCredentialService(ctx.azure, { maxRetryMs: 0 }).list(identityId);
    } catch (err) {
      throw cannotRead(err, "read Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials");
    }
  });
}

/** The workload a pod belongs to, as kubectl names it (`deployment/web`), for fix commands. */
export { workloadOf } from "./matching.js";

/** `<kind> <name>` as kubectl takes it (`deployment web`), from `deployment/web`. */
export const kubectlTarget = (ref: string) => ref.replace("/", " ");
