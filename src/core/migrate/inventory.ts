import { isNotServed } from "../preflight.js";
import type { KubernetesObject, V1Pod, V1ServiceAccount } from "@kubernetes/client-node";
import { PodidError } from "../../errors/index.js";
import { workloadIdentityProfile, type WorkloadIdentityProfile } from "../../azure/cluster-workload-identity.js";
import { FederatedCredentialService, type FederatedCredential } from "../../azure/federated-credentials.js";
import { IdentityService, type UserAssignedIdentity } from "../../azure/identities.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../azure/resource-id.js";
import { AzureSession } from "../../azure/session.js";
import {
  AAD_POD_IDENTITY_API_VERSION,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from "../../aadpodidentity/types.js";
import type { KubeSession } from "../../kube/session.js";
import { componentSelector } from "../../aadpodidentity/contract/names.js";
import { declaredNamespacedMode } from "../../aadpodidentity/contract/namespaced-mode.js";
import { listWorkloads, podTemplateOf, servedKinds, type Workload, type WorkloadKind } from "../../kube/workloads.js";
import { mapConcurrent } from "../../util/concurrency.js";

/** What the user asked to move: the namespace (all when undefined), one identity, some workloads, the proxy. */
export interface MigrateScope {
  namespace?: string;
  identity?: string;
  /** `--workload KIND/NAME`: only these (kind as `podid bind --label` spells it: deployment, cronjob, ...). */
  workloads: { kind: string; name: string }[];
  proxySidecarAll: boolean;
  proxySidecarFor: { kind: string; name: string }[];
}

/** A user-assigned identity as Azure has it, with its federated credentials, or why it could not be read. */
export interface AzureIdentityFacts {
  identity?: UserAssignedIdentity;
  credentials: FederatedCredential[];
  /** Set when the identity does not exist (or cannot be read): the message. */
  missing?: string;
}

/** Everything the plan is made from, read once. */
export interface Inventory {
  cluster: { name: string; resourceGroup: string; profile: WorkloadIdentityProfile };
  identities: AzureIdentity[];
  bindings: AzureIdentityBinding[];
  exceptions: AzurePodIdentityException[];
  /** MIC runs with --forceNamespaced: identities reach only pods of their own namespace. */
  forceNamespaced: boolean;
  /** In the scope's namespace(s): */
  pods: V1Pod[];
  workloads: Workload[];
  replicaSets: Workload[];
  jobs: Workload[];
  serviceAccounts: V1ServiceAccount[];
  /** By lower-cased resource id, for the identities the plan involves. */
  azure: Map<string, AzureIdentityFacts>;
}

const MIGRATABLE: WorkloadKind[] = ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"];

/** MIC's Deployment(s), podid's or upstream's, by their component label: does any declare namespaced mode (--forceNamespaced or FORCENAMESPACED)? */
async function micForceNamespaced(kube: KubeSession): Promise<boolean> {
  const mics = await kube.list<Workload>("apps/v1", "Deployment", undefined, componentSelector("mic")).catch(() => []);
  return mics.some((d) => (podTemplateOf(d)?.spec?.containers ?? []).some((c) => declaredNamespacedMode(c).on));
}

/** Reads the cluster side: the aadpodidentity objects (cluster-wide, as MIC matches) and the scope's workloads. */
export async function readCluster(kube: KubeSession, namespace: string | undefined): Promise<Omit<Inventory, "cluster" | "azure">> {
  const [apps, batch] = await Promise.all([servedKinds(kube, "apps/v1"), servedKinds(kube, "batch/v1")]);
  const served = { apps, batch };
  // Without pod identity's CRDs (uninstalled after finish) there is nothing of it: the records still say what moved.
  const podIdentity = <T extends KubernetesObject>(kind: string) =>
    kube.list<T>(AAD_POD_IDENTITY_API_VERSION, kind).catch((err: unknown) => {
      if (isNotServed(err)) return [] as T[];
      throw err;
    });
  const [identities, bindings, exceptions, forceNamespaced, pods, serviceAccounts, replicaSets, ...workloads] = await Promise.all([
    podIdentity<AzureIdentity>("AzureIdentity"),
    podIdentity<AzureIdentityBinding>("AzureIdentityBinding"),
    podIdentity<AzurePodIdentityException>("AzurePodIdentityException"),
    micForceNamespaced(kube),
    kube.list<V1Pod>("v1", "Pod", namespace),
    kube.list<V1ServiceAccount>("v1", "ServiceAccount", namespace),
    listWorkloads(kube, "ReplicaSet", served, namespace),
    ...MIGRATABLE.map((kind) => listWorkloads(kube, kind, served, namespace)),
  ]);
  const all = workloads.flat();
  return { identities, bindings, exceptions, forceNamespaced, pods, serviceAccounts, replicaSets, workloads: all, jobs: all.filter((w) => w.kind === "Job") };
}

/** Reads Azure's side of each identity: does it exist, its client id and tenant, its federated credentials. */
export async function readAzureIdentities(azure: AzureSession, resourceIds: string[]): Promise<Map<string, AzureIdentityFacts>> {
  const credentials = new FederatedCredentialService(azure);
  const facts = await mapConcurrent([...new Set(resourceIds.map((id) => id.toLowerCase()))], 4, async (key): Promise<[string, AzureIdentityFacts]> => {
    const id = parseResourceId(key, USER_ASSIGNED_IDENTITY_TYPE);
    const session = id.subscriptionId.toLowerCase() === azure.subscriptionId.toLowerCase() ? azure : new AzureSession(azure.cloud, azure.credential, id.subscriptionId);
    const identity = await new IdentityService(session).get(id.resourceGroup, id.name);
    if (!identity) return [key, { credentials: [], missing: `identity ${id.name} does not exist in resource group ${id.resourceGroup}` }];
    try {
      return [key, { identity, credentials: await credentials.list(key) }];
    } catch (err) {
      if (err instanceof PodidError) return [key, { identity, credentials: [], missing: err.message }];
      throw err;
    }
  });
  return new Map(facts);
}

export async function readClusterProfile(azure: AzureSession, cluster: { name: string; resourceGroup: string }): Promise<Inventory["cluster"]> {
  return { ...cluster, profile: await workloadIdentityProfile(azure, cluster.resourceGroup, cluster.name) };
}
