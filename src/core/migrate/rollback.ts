import { setTimeout as sleep } from "node:timers/promises";
import type { V1Pod, V1ServiceAccount } from "@kubernetes/client-node";
import { KubernetesCode, MigrateCode, MigrateError, PodidError } from "../../errors/index.js";
import { FederatedCredentialService } from "../../azure/federated-credentials.js";
import { AAD_POD_IDENTITY_API_VERSION, BINDING_LABEL, type AzureAssignedIdentity, type AzureIdentity, type AzureIdentityBinding } from "../../aadpodidentity/types.js";
import { serviceAccountSubject } from "../../kube/workload-identity.js";
import { listWorkloads, patchLatest, podTemplateOf, readWorkload, servedKinds, templateServiceAccount, workloadHeader, type Workload, type WorkloadKind } from "../../kube/workloads.js";
import { renderAzureIdentity, renderAzureIdentityBinding } from "../../render/identity.js";
import { runSteps, type Step, type StepReport } from "../steps.js";
import { loadPlan, type MigrateContext } from "./load.js";
import { credentialName, RECORD_ANNOTATION, serviceAccountRecordOf, workloadRecordOf, type WorkloadRecord } from "./records.js";
import { waitForRollout, workloadPods } from "./rollout.js";
import { restored, restorePatch } from "./workload-changes.js";

/**
 * `podid migrate rollback`: from podid's records, back to pod identity — the AzureIdentities and bindings (re-made
 * if finish removed them), each workload's label and ServiceAccount as they were (rolled out and seen to get its
 * identity from MIC again), then, with no migrated workload left using them, the ServiceAccounts podid made or
 * annotated and the federated credentials it created. Nothing podid did not add is removed.
 */

export interface RollbackResult {
  steps: StepReport[];
  workloads: { namespace: string; ref: string }[];
  dryRun: boolean;
}

const POLL_MS = 1000;
const ready = (p: V1Pod) => (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/** A pod of the workload, back on pod identity, that MIC has assigned every identity of the record. */
async function waitForPodIdentity(ctx: MigrateContext, kind: WorkloadKind, namespace: string, name: string, record: WorkloadRecord, progress: (m: string) => void, since: Date): Promise<void> {
  const rollout = await waitForRollout(ctx.kube, { kind, namespace, name }, { timeoutMs: ctx.timeoutMs, since, progress });
  if (!rollout.complete) throw new MigrateError(MigrateCode.RolloutIncomplete, `${kind.toLowerCase()}/${name} in ${namespace}: ${rollout.reason}`, { remedy: "Fix what keeps its pods from becoming ready, then run podid migrate rollback again." });
  if (kind === "CronJob" || (rollout.workload.spec?.replicas ?? 1) === 0) return;
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const pods = (await workloadPods(ctx.kube, rollout.workload)).filter((p) => ready(p) && !p.metadata?.deletionTimestamp && p.metadata?.labels?.[BINDING_LABEL] === record.selector);
    const assigned = await ctx.kube.list<AzureAssignedIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureAssignedIdentity").catch(() => []);
    const served = pods.find((p) =>
      record.identities.every((i) => assigned.some((a) => a.spec?.pod === p.metadata?.name && a.spec?.podNamespace === namespace && a.spec?.azureIdentityRef?.metadata?.name === i.name && a.status?.status === "Assigned")),
    );
    if (served) return;
    if (Date.now() > deadline) {
      throw new MigrateError(MigrateCode.RolloutIncomplete, `${kind.toLowerCase()}/${name} in ${namespace} is back on pod identity, but MIC has not assigned its identities to a ready pod within ${Math.round(ctx.timeoutMs / 1000)}s`, {
        remedy: "Run podid doctor -n " + namespace + " (checks mic, assigned-identities), then podid migrate rollback again; nothing of workload identity was removed yet.",
      });
    }
    progress(`${kind.toLowerCase()}/${name}: waiting for MIC to assign ${record.identities.map((i) => i.name).join(", ")} to its new pods`);
    await sleep(POLL_MS);
  }
}

export async function rollbackMigration(ctx: MigrateContext, options: { dryRun: boolean }): Promise<RollbackResult> {
  const { plan, inventory } = await loadPlan(ctx);
  const targets = plan.workloads
    .map((p) => ({ p, w: inventory.workloads.find((x) => x.kind === p.kind && x.metadata.namespace === p.namespace && x.metadata.name === p.name) }))
    .filter((t): t is { p: (typeof plan.workloads)[number]; w: Workload } => Boolean(t.w && workloadRecordOf(t.w)));
  const steps: Step[] = [];
  const since = new Date();

  // 1. What pod identity needs: the AzureIdentities and bindings of the records, where finish removed them.
  const needed = new Map<string, AzureIdentity | AzureIdentityBinding>();
  for (const { w } of targets) {
    const r = workloadRecordOf(w)!;
    for (const i of r.identities) needed.set(`AzureIdentity ${i.namespace}/${i.name}`, renderAzureIdentity({ name: i.name, namespace: i.namespace, resourceId: i.resourceID, clientId: i.clientID }));
    for (const b of r.bindings) needed.set(`AzureIdentityBinding ${b.namespace}/${b.name}`, renderAzureIdentityBinding({ name: b.name, namespace: b.namespace, identityName: b.azureIdentity, selector: b.selector }));
  }
  for (const [name, object] of needed) {
    steps.push({
      name,
      target: "cluster",
      plan: async () => ({ action: (await ctx.kube.read(object)) ? "none" : "create", detail: { object } }),
      apply: async () => {
        try {
          if (await ctx.kube.read(object)) return { outcome: "unchanged" };
          return { outcome: (await ctx.kube.apply(object)).result };
        } catch (err) {
          if (!(err instanceof PodidError && (err.code === KubernetesCode.KubernetesNotFound || err.code === KubernetesCode.KubernetesRequestFailed))) throw err;
          throw new MigrateError(MigrateCode.PodIdentityNotInstalled, `cannot make ${name}: pod identity is not installed in the cluster (it does not serve ${object.apiVersion} ${object.kind})`, {
            cause: err,
            remedy: `Install it again (podid install --cluster ${ctx.cluster.name} -g ${ctx.cluster.resourceGroup}), then run podid migrate rollback again; nothing was changed on the workloads.`,
          });
        }
      },
    });
  }

  // 2. The workloads, back as they were; then each seen getting its identities from MIC.
  for (const { p } of targets) {
    const header = workloadHeader(p.kind as WorkloadKind, p.namespace, p.name);
    steps.push({
      name: `${p.kind} ${p.namespace}/${p.name}: back on pod identity`,
      target: "cluster",
      plan: async () => ({ action: "update", detail: { kind: p.kind, namespace: p.namespace, name: p.name } }),
      apply: async () => {
        const { patched } = await patchLatest<Workload>(ctx.kube, header, (w) => {
          const r = workloadRecordOf(w);
          return r && !restored(w, r) ? restorePatch(w, r, r) : undefined;
        });
        return { outcome: patched ? "updated" : "unchanged", detail: { kind: p.kind, namespace: p.namespace, name: p.name } };
      },
    });
  }
  for (const { p } of targets) {
    steps.push({
      name: `${p.kind} ${p.namespace}/${p.name}: new pods get their identities from MIC (then podid's record goes)`,
      target: "cluster",
      plan: async () => ({ action: "update" }),
      apply: async (progress) => {
        const w = await readWorkload(ctx.kube, p.kind as WorkloadKind, p.namespace, p.name);
        const r = workloadRecordOf(w);
        if (!r) return { outcome: "unchanged" };
        await waitForPodIdentity(ctx, p.kind as WorkloadKind, p.namespace, p.name, r, progress, since);
        await patchLatest<Workload>(ctx.kube, workloadHeader(p.kind as WorkloadKind, p.namespace, p.name), (cur) => (workloadRecordOf(cur) ? { metadata: { annotations: { [RECORD_ANNOTATION]: null } } } : undefined));
        return { outcome: "updated" };
      },
    });
  }

  // 3. The ServiceAccounts podid made or annotated, once no migrated workload runs as them; then the credentials.
  const inScope = new Set(targets.map(({ w }) => `${w.metadata.namespace}/${workloadRecordOf(w)!.serviceAccount.after}`));
  for (const p of plan.workloads) if (p.serviceAccount) inScope.add(`${p.namespace}/${p.serviceAccount.target}`);
  const accounts = inventory.serviceAccounts.filter((s) => serviceAccountRecordOf(s) && inScope.has(`${s.metadata?.namespace}/${s.metadata?.name}`));
  const targetRefs = new Set(targets.map(({ p }) => `${p.namespace}/${p.kind}/${p.name}`));
  /** Workloads still on (or moving to) workload identity as this ServiceAccount, other than those rolled back. */
  const stillMigrated = async (namespace: string, name: string): Promise<string[]> => {
    const [apps, batch] = await Promise.all([servedKinds(ctx.kube, "apps/v1"), servedKinds(ctx.kube, "batch/v1")]);
    const all = (await Promise.all((["Deployment", "StatefulSet", "DaemonSet", "CronJob"] as const).map((k) => listWorkloads(ctx.kube, k, { apps, batch }, namespace)))).flat();
    return all
      .filter((w) => !targetRefs.has(`${w.metadata.namespace}/${w.kind}/${w.metadata.name}`) && workloadRecordOf(w)?.serviceAccount.after === name)
      .map((w) => `${w.kind.toLowerCase()}/${w.metadata.name}`);
  };
  const credentials = new FederatedCredentialService(ctx.azure, { onRetry: ctx.progress });
  const issuer = plan.cluster.issuerUrl ?? "";
  for (const s of accounts) {
    const namespace = s.metadata!.namespace!;
    const name = s.metadata!.name!;
    const record = serviceAccountRecordOf(s)!;
    const header = { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace } };
    steps.push({
      name: `ServiceAccount ${namespace}/${name}: ${record.created ? "delete it (podid made it) unless something runs as it, else " : ""}remove ${[...record.annotations, RECORD_ANNOTATION].join(", ")}`,
      target: "cluster",
      plan: async () => ({ action: record.created ? "delete" : "update" }),
      apply: async () => {
        const others = await stillMigrated(namespace, name);
        if (others.length) return { outcome: "unchanged", detail: { kept: `still used on workload identity by ${others.join(", ")}` } };
        const [apps, batch] = await Promise.all([servedKinds(ctx.kube, "apps/v1"), servedKinds(ctx.kube, "batch/v1")]);
        const runsAs = (await Promise.all((["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"] as const).map((k) => listWorkloads(ctx.kube, k, { apps, batch }, namespace))))
          .flat()
          .filter((w) => templateServiceAccount(podTemplateOf(w)) === name);
        if (record.created && !runsAs.length) return { outcome: (await ctx.kube.delete(header)) ? "deleted" : "absent" };
        const { patched } = await patchLatest<V1ServiceAccount>(ctx.kube, header, (cur) => {
          const r = serviceAccountRecordOf(cur);
          if (!r) return undefined;
          const annotations: Record<string, null> = { [RECORD_ANNOTATION]: null };
          for (const k of r.annotations) annotations[k] = null;
          const emptied = Object.keys(cur.metadata?.annotations ?? {}).every((k) => k in annotations);
          return { metadata: { annotations: emptied ? null : annotations } };
        });
        return { outcome: patched ? "updated" : "unchanged" };
      },
    });
    // Its credentials: those recorded, and podid's own name for each identity of the plan (a run cut short after
    // creating a credential and before recording it).
    const names = new Map<string, { identity: string; name: string }>();
    for (const c of record.credentials) names.set(`${c.identity.toLowerCase()}|${c.name}`, c);
    for (const c of plan.federatedCredentials) {
      if (c.subject === serviceAccountSubject(namespace, name) && c.podids) names.set(`${c.identityResourceId.toLowerCase()}|${c.name}`, { identity: c.identityResourceId, name: c.name });
    }
    for (const c of names.values()) steps.push(credentialDeleteStep(credentials, c, serviceAccountSubject(namespace, name), issuer, () => stillMigrated(namespace, name)));
  }
  // Credentials podid made for a ServiceAccount that has no record (a run cut short before phase 2).
  const recorded = new Set(accounts.map((s) => serviceAccountSubject(s.metadata!.namespace!, s.metadata!.name!)));
  for (const c of plan.federatedCredentials) {
    if (!c.podids || c.action !== "none" || recorded.has(c.subject)) continue;
    const [, , namespace, name] = c.subject.split(":");
    steps.push(credentialDeleteStep(credentials, { identity: c.identityResourceId, name: c.name }, c.subject, issuer, () => stillMigrated(namespace, name)));
  }
  const reports = await runSteps(steps, { dryRun: options.dryRun, progress: ctx.progress });
  return { steps: reports, workloads: targets.map(({ p }) => ({ namespace: p.namespace, ref: p.ref })), dryRun: options.dryRun };
}

/** Deletes a credential podid made (its name says so) once no migrated workload runs as its ServiceAccount. */
function credentialDeleteStep(service: FederatedCredentialService, c: { identity: string; name: string }, subject: string, issuer: string, users: () => Promise<string[]>): Step {
  const [, , namespace, serviceAccount] = subject.split(":");
  return {
    name: `federated credential ${c.name} of ${c.identity.split("/").pop()}`,
    target: "azure",
    plan: async () => ({ action: "delete", detail: { identity: c.identity, name: c.name, subject } }),
    apply: async () => {
      if (issuer && c.name !== credentialName(issuer, namespace, serviceAccount)) return { outcome: "unchanged", detail: { kept: "not named as podid names its credentials" } };
      const others = await users();
      if (others.length) return { outcome: "unchanged", detail: { kept: `still used by ${others.join(", ")}` } };
      return { outcome: (await service.delete(c.identity, c.name)) ? "deleted" : "absent", detail: { identity: c.identity, name: c.name, subject } };
    },
  };
}
