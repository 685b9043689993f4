import { isNotServed } from "../preflight.js";
import { isActivePod } from "../../aadpodidentity/pods.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { V1Pod, V1ServiceAccount } from "@kubernetes/client-node";
import { MigrateCode, MigrateError } from "../../errors/index.js";
import { FederatedCredentialService } from "../../azure/federated-credentials.js";
import { AAD_POD_IDENTITY_API_VERSION, BINDING_LABEL, namespaceOf, type AzureAssignedIdentity, type AzureIdentity, type AzureIdentityBinding } from "../../aadpodidentity/types.js";
import { serviceAccountSubject, USE_LABEL } from "../../kube/workload-identity.js";
import { jobFinished, listWorkloads, patchLatest, podTemplateOf, readWorkload, servedKinds, templateServiceAccount, workloadHeader, workloadRef, type Workload, type WorkloadKind } from "../../kube/workloads.js";
import { renderAzureIdentity, renderAzureIdentityBinding } from "../../render/identity.js";
import { runSteps, type Step, type StepReport } from "../steps.js";
import type { MigrateScope } from "./inventory.js";
import { loadPlan, type MigrateContext } from "./load.js";
import type { MigrationPlan } from "./model.js";
import { credentialName, RECORD_ANNOTATION, recordText, serviceAccountRecordOf, workloadRecordOf, type ServiceAccountRecord, type WorkloadRecord } from "./records.js";
import { waitForRollout, workloadPods } from "./rollout.js";
import { bindingBackPatch, leftMidApply, recordPatch, restored, restorePatch } from "./workload-changes.js";

/**
 * `podid migrate rollback`: from podid's records, back to pod identity — the AzureIdentities and bindings (re-made
 * if finish removed them); each workload's aadpodidbinding label first, beside workload identity, until MIC has
 * assigned its identities to the new pods (attaching an identity to a scale set takes ARM tens of seconds: pods on
 * pod identity alone would have no path until then); then its template as it was, rolled out and seen getting its
 * identities from MIC; then, with nothing left running as them, the federated credentials podid created and the
 * ServiceAccounts it made (or its annotations on those it did not). Nothing podid did not add is removed.
 */

export interface RollbackResult {
  steps: StepReport[];
  workloads: { namespace: string; ref: string }[];
  /** Workloads an interrupted apply had moved without verifying them (perhaps mid-rollout), which this puts back. */
  interrupted: { namespace: string; ref: string; state: string }[];
  dryRun: boolean;
}

const POLL_MS = 1000;
const ready = (p: V1Pod) => !p.metadata?.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/**
 * Waits until the workload's rollout is complete and MIC has assigned every identity of the record to each of its
 * ready pods that carries the binding label (at least one, when it runs any).
 */
async function waitForPodIdentity(ctx: MigrateContext, kind: WorkloadKind, namespace: string, name: string, record: WorkloadRecord, progress: (m: string) => void, since: Date): Promise<void> {
  const rollout = await waitForRollout(ctx.kube, { kind, namespace, name }, { timeoutMs: ctx.timeoutMs, since, progress });
  if (!rollout.complete) throw new MigrateError(MigrateCode.RolloutIncomplete, `${kind.toLowerCase()}/${name} in ${namespace}: ${rollout.reason}`, { remedy: "Fix what keeps its pods from becoming ready, then run podid migrate rollback again." });
  if (kind === "CronJob" || (rollout.workload.spec?.replicas ?? 1) === 0) return;
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const pods = (await workloadPods(ctx.kube, rollout.workload)).filter((p) => ready(p) && p.metadata?.labels?.[BINDING_LABEL] === record.selector);
    const assigned = await ctx.kube.list<AzureAssignedIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureAssignedIdentity").catch(() => []);
    const served = (p: V1Pod) =>
      record.identities.every((i) =>
        assigned.some((a) => a.spec?.pod === p.metadata?.name && a.spec?.podNamespace === namespace && a.spec?.azureIdentityRef?.metadata?.name === i.name && namespaceOf(a.spec.azureIdentityRef) === i.namespace && a.status?.status === "Assigned"),
      );
    const waiting = pods.filter((p) => !served(p));
    if (pods.length && !waiting.length) return;
    if (Date.now() > deadline) {
      throw new MigrateError(MigrateCode.RolloutIncomplete, `${kind.toLowerCase()}/${name} in ${namespace} has its ${BINDING_LABEL} label again, but MIC has not assigned its identities to ${pods.length ? `pod ${waiting.map((p) => p.metadata?.name).join(", ")}` : "a ready pod"} within ${Math.round(ctx.timeoutMs / 1000)}s`, {
        remedy: `Run podid doctor --namespace ${namespace} (checks mic, assigned-identities), then podid migrate rollback again; nothing of workload identity was removed yet.`,
      });
    }
    progress(`${kind.toLowerCase()}/${name}: waiting for MIC to assign ${record.identities.map((i) => i.name).join(", ")} to ${pods.length ? waiting.map((p) => p.metadata?.name).join(", ") : "its new pods"}`);
    await sleep(POLL_MS);
  }
}

/**
 * The ServiceAccounts a rollback in this scope cleans up, by podid's record on them: those it names a workload of
 * the scope (found so after the workloads' own records are gone: a rollback cut short), or, for a record from before
 * podid named workloads, those the scope's workloads run as (or ran as, by their records).
 */
export function serviceAccountsToRelease(accounts: readonly V1ServiceAccount[], scope: Pick<MigrateScope, "workloads" | "identity">, plan: Pick<MigrationPlan, "workloads">, records: readonly { namespace: string; record: WorkloadRecord }[]): V1ServiceAccount[] {
  const narrowed = scope.workloads.length > 0 || scope.identity !== undefined;
  const refs = new Set([...plan.workloads.map((w) => `${w.namespace}/${w.ref}`)]);
  const ran = new Set(records.map((r) => `${r.namespace}/${r.record.serviceAccount.after}`));
  for (const p of plan.workloads) if (p.serviceAccount) ran.add(`${p.namespace}/${p.serviceAccount.target}`);
  return accounts.filter((s) => {
    const record = serviceAccountRecordOf(s);
    if (!record) return false;
    const ns = s.metadata?.namespace ?? "default";
    if (record.workloads) return !narrowed || record.workloads.some((ref) => refs.has(`${ns}/${ref}`) || scope.workloads.some((w) => workloadRef(w) === ref));
    return ran.has(`${ns}/${s.metadata?.name}`);
  });
}

export async function rollbackMigration(ctx: MigrateContext, options: { dryRun: boolean }): Promise<RollbackResult> {
  const { plan, inventory } = await loadPlan(ctx);
  const targets = plan.workloads
    .map((p) => ({ p, w: inventory.workloads.find((x) => x.kind === p.kind && x.metadata.namespace === p.namespace && x.metadata.name === p.name) }))
    .filter((t): t is { p: (typeof plan.workloads)[number]; w: Workload } => Boolean(t.w && workloadRecordOf(t.w)));
  const interrupted = targets.map(({ p, w }) => ({ namespace: p.namespace, ref: p.ref, state: leftMidApply(w) ?? "" })).filter((t) => t.state);
  const steps: Step[] = [];
  const since = new Date();
  const kindOf = (p: { kind: string }) => p.kind as WorkloadKind;
  /** A step patching the workload's latest version from its record, while the record says it is not yet restored. */
  const untilRestored = (p: { kind: string; namespace: string; name: string }, what: string, patch: (w: Workload, r: WorkloadRecord) => Record<string, unknown> | undefined): Step => {
    const detail = { kind: p.kind, namespace: p.namespace, name: p.name };
    return {
      name: `${p.kind} ${p.namespace}/${p.name}: ${what}`,
      target: "cluster",
      plan: async () => ({ action: "update", detail }),
      apply: async () => {
        const { patched } = await patchLatest<Workload>(ctx.kube, workloadHeader(kindOf(p), p.namespace, p.name), (w) => {
          const r = workloadRecordOf(w);
          return r && !restored(w, r) ? patch(w, r) : undefined;
        });
        return { outcome: patched ? "updated" : "unchanged", detail };
      },
    };
  };

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
          if (!isNotServed(err)) throw err;
          throw new MigrateError(MigrateCode.PodIdentityNotInstalled, `cannot make ${name}: pod identity is not installed in the cluster (it does not serve ${object.apiVersion} ${object.kind})`, {
            cause: err,
            remedy: `Install it again (podid install --cluster ${ctx.cluster.name} -g ${ctx.cluster.resourceGroup}), then run podid migrate rollback again; nothing was changed on the workloads.`,
          });
        }
      },
    });
  }

  // 2. Each workload: aadpodidbinding back beside workload identity, its new pods served by MIC; then as it was.
  for (const { p } of targets) steps.push(untilRestored(p, `${BINDING_LABEL} back, workload identity kept`, (w, r) => bindingBackPatch(w, r, new Date())));
  for (const { p } of targets) {
    steps.push({
      name: `${p.kind} ${p.namespace}/${p.name}: its pods on both paths, MIC has assigned their identities`,
      target: "cluster",
      limitMs: 2 * ctx.timeoutMs,
      plan: async () => ({ action: "none" }),
      apply: async (progress) => {
        const w = await readWorkload(ctx.kube, kindOf(p), p.namespace, p.name);
        const r = workloadRecordOf(w);
        // Owed only where the label came back: a workload that kept it has pods MIC serves already (and one whose
        // new pods never became ready must not hold its own rollback).
        if (!w || !r?.relabelled || restored(w, r)) return { outcome: "unchanged" };
        await waitForPodIdentity(ctx, kindOf(p), p.namespace, p.name, r, progress, since);
        return { outcome: "unchanged" };
      },
    });
  }
  for (const { p } of targets) steps.push(untilRestored(p, "back on pod identity (label, ServiceAccount, annotations as they were)", (w, r) => restorePatch(w, r, r)));
  for (const { p } of targets) {
    steps.push({
      name: `${p.kind} ${p.namespace}/${p.name}: new pods get their identities from MIC (then podid's record goes)`,
      target: "cluster",
      limitMs: 2 * ctx.timeoutMs,
      plan: async () => ({ action: "update" }),
      apply: async (progress) => {
        const w = await readWorkload(ctx.kube, kindOf(p), p.namespace, p.name);
        const r = workloadRecordOf(w);
        if (!r) return { outcome: "unchanged" };
        await waitForPodIdentity(ctx, kindOf(p), p.namespace, p.name, r, progress, since);
        await patchLatest<Workload>(ctx.kube, workloadHeader(kindOf(p), p.namespace, p.name), (cur) => (workloadRecordOf(cur) ? recordPatch(null) : undefined));
        return { outcome: "updated" };
      },
    });
  }

  // 3. The credentials podid created, then the ServiceAccounts it made or annotated: once nothing runs as them.
  const targetRefs = new Set(targets.map(({ p }) => `${p.namespace}/${p.kind}/${p.name}`));
  const records = targets.map(({ w }) => ({ namespace: w.metadata.namespace, record: workloadRecordOf(w)! }));
  const accounts = serviceAccountsToRelease(inventory.serviceAccounts, ctx.scope, plan, records);
  const users = (namespace: string, name: string) => serviceAccountUsers(ctx, namespace, name, targetRefs);
  const credentials = new FederatedCredentialService(ctx.azure, { onRetry: ctx.progress });
  const issuer = plan.cluster.issuerUrl;
  for (const s of accounts) {
    const namespace = s.metadata!.namespace!;
    const name = s.metadata!.name!;
    const record = serviceAccountRecordOf(s)!;
    // Its credentials: those recorded, and podid's own name for each identity of the plan (a run cut short after
    // creating a credential and before recording it). Before the ServiceAccount, whose record names them.
    const names = new Map<string, { identity: string; name: string }>();
    for (const c of record.credentials) names.set(`${c.identity.toLowerCase()}|${c.name}`, c);
    for (const c of plan.federatedCredentials) {
      if (c.subject === serviceAccountSubject(namespace, name) && c.podids) names.set(`${c.identityResourceId.toLowerCase()}|${c.name}`, { identity: c.identityResourceId, name: c.name });
    }
    for (const c of names.values()) steps.push(credentialDeleteStep(credentials, c, serviceAccountSubject(namespace, name), issuer, () => users(namespace, name)));
    steps.push(serviceAccountStep(ctx, namespace, name, record, () => users(namespace, name)));
  }
  // Credentials podid made for a ServiceAccount that has no record (a run cut short before phase 2).
  const recorded = new Set(accounts.map((s) => serviceAccountSubject(s.metadata!.namespace!, s.metadata!.name!)));
  for (const c of plan.federatedCredentials) {
    if (!c.podids || c.action !== "none" || recorded.has(c.subject)) continue;
    const [, , namespace, name] = c.subject.split(":");
    steps.push(credentialDeleteStep(credentials, { identity: c.identityResourceId, name: c.name }, c.subject, issuer, () => users(namespace, name)));
  }
  const reports = await runSteps(steps, { dryRun: options.dryRun, progress: ctx.progress });
  return { steps: reports, workloads: targets.map(({ p }) => ({ namespace: p.namespace, ref: p.ref })), interrupted, dryRun: options.dryRun };
}

/** Who still runs as a ServiceAccount, besides the workloads being rolled back. */
interface ServiceAccountUsers {
  /** Workloads podid moved onto it (other than those rolled back): it and its credentials stay. */
  migrated: string[];
  /** Pods that still run on workload identity as it: its credentials stay until they end. */
  federatedPods: string[];
  /** Workloads whose template names it, and pods that have not ended: a ServiceAccount podid made stays until none. */
  running: string[];
}

async function serviceAccountUsers(ctx: MigrateContext, namespace: string, name: string, rolledBack: Set<string>): Promise<ServiceAccountUsers> {
  const [apps, batch] = await Promise.all([servedKinds(ctx.kube, "apps/v1"), servedKinds(ctx.kube, "batch/v1")]);
  const [pods, ...lists] = await Promise.all([
    ctx.kube.list<V1Pod>("v1", "Pod", namespace),
    ...(["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"] as const).map((k) => listWorkloads(ctx.kube, k, { apps, batch }, namespace)),
  ]);
  const workloads = lists.flat();
  const ref = (w: Workload) => `${w.kind.toLowerCase()}/${w.metadata.name}`;
  const mine = pods.filter((p) => isActivePod(p) && p.spec?.serviceAccountName === name);
  return {
    migrated: workloads.filter((w) => !rolledBack.has(`${w.metadata.namespace}/${w.kind}/${w.metadata.name}`) && workloadRecordOf(w)?.serviceAccount.after === name).map(ref),
    federatedPods: mine.filter((p) => p.metadata?.labels?.[USE_LABEL] === "true").map((p) => `pod/${p.metadata?.name}`),
    // A Job that has ended runs nothing again (a CronJob's past runs keep their template).
    running: [...workloads.filter((w) => !jobFinished(w) && templateServiceAccount(podTemplateOf(w)) === name).map(ref), ...mine.map((p) => `pod/${p.metadata?.name}`)],
  };
}

/**
 * The ServiceAccount: one podid made goes once nothing runs as it; while something still does (a Job the CronJob
 * started on workload identity), it is marked, and a re-run of rollback deletes it. One podid only annotated loses
 * podid's annotations.
 */
function serviceAccountStep(ctx: MigrateContext, namespace: string, name: string, record: ServiceAccountRecord, users: () => Promise<ServiceAccountUsers>): Step {
  const header = { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace } };
  return {
    name: `ServiceAccount ${namespace}/${name}: ${record.created ? "delete it (podid made it) once nothing runs as it, else " : ""}remove ${[...record.annotations, RECORD_ANNOTATION].join(", ")}`,
    target: "cluster",
    plan: async () => ({ action: record.created ? "delete" : "update" }),
    apply: async () => {
      const u = await users();
      if (u.migrated.length) return { outcome: "unchanged", detail: { kept: `still used on workload identity by ${u.migrated.join(", ")}` } };
      if (record.created) {
        if (!u.running.length) return { outcome: (await ctx.kube.delete(header)) ? "deleted" : "absent" };
        const { patched } = await patchLatest<V1ServiceAccount>(ctx.kube, header, (cur) => {
          const r = serviceAccountRecordOf(cur);
          return r && !r.released ? { metadata: { annotations: { [RECORD_ANNOTATION]: recordText({ ...r, released: { at: new Date().toISOString() } }) } } } : undefined;
        });
        return { outcome: patched ? "updated" : "unchanged", detail: { kept: `${u.running.join(", ")} still run${u.running.length === 1 ? "s" : ""} as it: podid migrate rollback again deletes it once nothing does` } };
      }
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
  };
}

/** Deletes a credential podid made (its name says so) once nothing uses its ServiceAccount on workload identity. */
function credentialDeleteStep(service: FederatedCredentialService, c: { identity: string; name: string }, subject: string, issuer: string | null, users: () => Promise<ServiceAccountUsers>): Step {
  const [, , namespace, serviceAccount] = subject.split(":");
  return {
    name: `federated credential ${c.name} of ${c.identity.split("/").pop()}`,
    target: "azure",
    plan: async () => ({ action: "delete", detail: { identity: c.identity, name: c.name, subject } }),
    apply: async () => {
      if (issuer && c.name !== credentialName(issuer, namespace, serviceAccount)) return { outcome: "unchanged", detail: { kept: "not named as podid names its credentials" } };
      const u = await users();
      const using = [...u.migrated, ...u.federatedPods];
      if (using.length) return { outcome: "unchanged", detail: { kept: `still used by ${using.join(", ")}` } };
      return { outcome: (await service.delete(c.identity, c.name)) ? "deleted" : "absent", detail: { identity: c.identity, name: c.name, subject } };
    },
  };
}
