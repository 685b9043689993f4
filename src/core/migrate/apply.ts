import type { KubernetesObject, V1ServiceAccount } from "@kubernetes/client-node";
import { MigrateCode, MigrateError } from "../../errors/index.js";
import { enableWorkloadIdentity } from "../../azure/cluster-workload-identity.js";
import { FederatedCredentialService, sameFederation } from "../../azure/federated-credentials.js";
import { podAdmission } from "../../kube/admission.js";
import { CLIENT_ID_ANNOTATION, enableWorkloadIdentityCommand, serviceAccountSubject, TOKEN_EXCHANGE_AUDIENCE } from "../../kube/workload-identity.js";
import { patchLatest, readWorkload, workloadHeader, type Workload, type WorkloadKind } from "../../kube/workloads.js";
import { mapConcurrent } from "../../util/concurrency.js";
import { retry } from "../../util/retry.js";
import { runSteps, type Step, type StepReport } from "../steps.js";
import type { Inventory } from "./inventory.js";
import { loadPlan, type MigrateContext } from "./load.js";
import { CLUSTER_SWITCH_BLOCKERS, type CredentialPlan, type IdentityPlan, type MigrationPlan, type ServiceAccountPlan, type WorkloadPlan } from "./model.js";
import { newServiceAccountRecord, RECORD_ANNOTATION, recordText, serviceAccountRecordOf, workloadRecordOf } from "./records.js";
import { exchangeFor, verifyWorkload, type Refusal } from "./verify.js";
import { asManifest, migratePatch, migrated, plannedPod, recordPatch, restorePatch, templateAsPlanned, workloadRecordFor } from "./workload-changes.js";

/**
 * `podid migrate apply`: the phases as named, idempotent steps — (1) federated credentials in Azure, (2)
 * ServiceAccounts, Entra ID's propagation proved by a token exchange, (3) the workloads' pod templates (the
 * aadpodidbinding label kept, so every pod has a path while the rollout runs), each only once the API server has
 * admitted a pod of the new template in a dry run, (4) verification of the workloads on their new pods, a few at a
 * time. A workload that fails verification is put back on pod identity and reported; the others go on.
 */

export interface WorkloadOutcome {
  namespace: string;
  ref: string;
  verified: boolean;
  reason?: string;
}

export interface ApplyResult {
  steps: StepReport[];
  workloads: WorkloadOutcome[];
  /** Left on pod identity (refused at admission, or by verification): why. */
  failed: WorkloadOutcome[];
  /** Not moved: what blocks each. */
  blocked: { namespace: string; ref: string; blockers: string[] }[];
  warnings: string[];
  dryRun: boolean;
}

/** How many workloads are verified at once: each waits for its rollout, so one slow workload does not hold the rest. */
const VERIFY_CONCURRENCY = 4;

const wanted = (plan: MigrationPlan, names: string[]) => plan.identities.filter((i) => names.includes(`${i.namespace}/${i.name}`));

export function blockedError(plan: MigrationPlan): MigrateError {
  return new MigrateError(MigrateCode.MigrationBlocked, plan.blockers.map((b) => b.message).join("; "), {
    remedy: [...new Set(plan.blockers.map((b) => b.remedy).filter(Boolean))].join("\n"),
    details: { blockers: plan.blockers },
  });
}

/** Phase 1: one credential, written unless Azure has it with this value already. */
function credentialStep(service: FederatedCredentialService, c: CredentialPlan): Step {
  const detail = { identity: c.identity, identityResourceId: c.identityResourceId, name: c.name, issuer: c.issuer, subject: c.subject, audiences: c.audiences };
  return {
    name: `federated credential ${c.name} of identity ${c.identity} for ${c.subject}, issuer ${c.issuer ?? "(the cluster's, known once its OIDC issuer is enabled; the name's hash is of it)"}`,
    target: "azure",
    plan: async () => ({ action: c.action, detail }),
    apply: async () => {
      // Without an issuer there is no plan to apply (the cluster's blockers stop apply first).
      const value = { issuer: c.issuer!, subject: c.subject, audiences: c.audiences };
      const existing = await service.get(c.identityResourceId, c.name);
      if (existing && sameFederation(existing, value)) return { outcome: "unchanged", detail };
      const { created } = await service.put(c.identityResourceId, c.name, value);
      return { outcome: created ? "created" : "updated", detail };
    },
  };
}

/** Phase 2: the ServiceAccount, annotated with the client id, with podid's record of what it made and for whom. */
function serviceAccountObject(s: ServiceAccountPlan, plan: MigrationPlan, inv: Inventory): KubernetesObject {
  const existing = inv.serviceAccounts.find((a) => a.metadata?.namespace === s.namespace && a.metadata?.name === s.name);
  const before = serviceAccountRecordOf(existing);
  const created = before?.created ?? !existing;
  const subject = serviceAccountSubject(s.namespace, s.name);
  const credentials = [...(before?.credentials ?? [])];
  for (const c of plan.federatedCredentials.filter((f) => f.subject === subject && f.podids)) {
    if (!credentials.some((r) => r.identity.toLowerCase() === c.identityResourceId.toLowerCase() && r.name === c.name)) credentials.push({ identity: c.identityResourceId, name: c.name });
  }
  const annotations = new Set(before?.annotations ?? []);
  if (existing?.metadata?.annotations?.[CLIENT_ID_ANNOTATION] === undefined) annotations.add(CLIENT_ID_ANNOTATION);
  // Moved again: a rollback's mark that it should go once unused no longer holds.
  const record = newServiceAccountRecord({ created, annotations: [...annotations].sort(), credentials, workloads: [...new Set([...(before?.workloads ?? []), ...s.workloads])].sort() });
  // A new ServiceAccount stands in for `default`: it pulls images as default does.
  const fromDefault = created ? inv.serviceAccounts.find((a) => a.metadata?.namespace === s.namespace && a.metadata?.name === "default") : undefined;
  const object: V1ServiceAccount = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: s.name, namespace: s.namespace, annotations: { ...s.annotations, [RECORD_ANNOTATION]: recordText(record) } },
    ...(fromDefault?.imagePullSecrets?.length ? { imagePullSecrets: fromDefault.imagePullSecrets.map((r) => ({ name: r.name })) } : {}),
    ...(fromDefault?.automountServiceAccountToken !== undefined ? { automountServiceAccountToken: fromDefault.automountServiceAccountToken } : {}),
  };
  return object as KubernetesObject;
}

class NotPropagated extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

/** Entra ID learns a new credential after a while: exchange until it is accepted (AADSTS70021 until then), bounded. */
function propagationStep(ctx: MigrateContext, c: CredentialPlan, identity: IdentityPlan): Step {
  const [, , namespace, serviceAccount] = c.subject.split(":");
  return {
    name: `Entra ID exchanges ${c.subject}'s token for identity ${c.identity}`,
    target: "azure",
    limitMs: ctx.timeoutMs,
    plan: async () => ({ action: "none", detail: { identity: c.identity, subject: c.subject } }),
    apply: async (progress) => {
      const started = Date.now();
      try {
        await retry(
          async () => {
            const refused = await exchangeFor(ctx.kube, ctx.azure.cloud, { namespace, serviceAccount, identities: [identity] });
            if (refused) throw new NotPropagated(refused);
          },
          {
            // AADSTS70021: no matching credential yet; AADSTS90061: the issuer's keys could not be fetched just now.
            retryable: (err) => err instanceof NotPropagated && ["AADSTS70021", "AADSTS90061"].includes(err.refusal.code),
            maxElapsedMs: ctx.timeoutMs,
            initialDelayMs: 1000,
            maxDelayMs: 5000,
            onRetry: ({ error, elapsedMs }) => progress(`waiting for Entra ID to learn the federated credential ${c.name} (${(error as NotPropagated).refusal.code}, ${Math.round(elapsedMs / 1000)}s)`),
          },
        );
      } catch (err) {
        if (!(err instanceof NotPropagated)) throw err;
        throw new MigrateError(MigrateCode.FederationNotPropagated, `Entra ID does not exchange ${c.subject}'s token for identity ${c.identity} after ${Math.round((Date.now() - started) / 1000)}s: ${err.refusal.message}`, {
          remedy: "Federated credentials take a while to propagate; run the same command again to wait more (--timeout), or check the credential with podid doctor.",
        });
      }
      return { outcome: "unchanged", detail: { identity: c.identity, subject: c.subject, waitedMs: Date.now() - started } };
    },
  };
}

/**
 * Phase 3: the pod template on workload identity, the aadpodidbinding label kept — once the API server has admitted,
 * in a dry run, a pod of that template: a webhook or policy that refuses the new pods is met before any old pod goes
 * (a StatefulSet or DaemonSet replaces a pod by deleting it first). Refused, the workload is left as it is, with why.
 */
function workloadStep(ctx: MigrateContext, p: WorkloadPlan, plan: MigrationPlan, w: Workload, outcomes: WorkloadOutcome[]): Step {
  const identities = wanted(plan, p.identities);
  const header = workloadHeader(p.kind as WorkloadKind, p.namespace, p.name);
  return {
    name: `${p.kind} ${p.namespace}/${p.name}: label ${Object.keys(p.podTemplateLabels).join(", ")}, ServiceAccount ${p.serviceAccount!.target}${p.proxySidecar ? ", proxy sidecar" : ""}`,
    target: "cluster",
    plan: async () => {
      const record = workloadRecordFor(w, p, identities);
      return { action: migrated(w, p, record) ? "none" : "update", detail: { kind: p.kind, namespace: p.namespace, name: p.name, object: asManifest(w, migratePatch(w, p, record)) } };
    },
    apply: async (progress) => {
      const current = await readWorkload(ctx.kube, p.kind as WorkloadKind, p.namespace, p.name);
      if (current && !templateAsPlanned(current, p)) {
        const admission = await podAdmission(ctx.kube, plannedPod(current, p));
        if (admission.admitted === "unknown") progress(`${admission.reason}: its rollout will show`);
        if (admission.admitted === false) {
          const reason = `the API server refuses a pod of its new template: ${admission.reason}`;
          await patchLatest<Workload>(ctx.kube, header, (cur) => recordPatch({ ...workloadRecordFor(cur, p, identities), verified: undefined, failed: { at: new Date().toISOString(), reason } }));
          outcomes.push({ namespace: p.namespace, ref: p.ref, verified: false, reason });
          return { outcome: "unchanged", detail: { kind: p.kind, namespace: p.namespace, name: p.name, leftOnPodIdentity: reason } };
        }
      }
      const { patched } = await patchLatest<Workload>(ctx.kube, header, (cur) => {
        const record = workloadRecordFor(cur, p, identities);
        return migrated(cur, p, record) ? undefined : migratePatch(cur, p, record);
      });
      return { outcome: patched ? "updated" : "unchanged", detail: { kind: p.kind, namespace: p.namespace, name: p.name } };
    },
  };
}

/** One workload's verification: recorded as verified, or put back on pod identity with the reason. */
async function verifyOne(ctx: MigrateContext, p: WorkloadPlan, plan: MigrationPlan, since: Date, progress: (m: string) => void): Promise<WorkloadOutcome & { changed: boolean }> {
  const header = workloadHeader(p.kind as WorkloadKind, p.namespace, p.name);
  const w = await readWorkload(ctx.kube, p.kind as WorkloadKind, p.namespace, p.name);
  const record = workloadRecordOf(w);
  if (w && record?.verified && templateAsPlanned(w, p)) return { namespace: p.namespace, ref: p.ref, verified: true, changed: false };
  const say = (m: string) => progress(`${p.ref}: ${m}`);
  const v = await verifyWorkload(ctx.kube, ctx.azure.cloud, p, wanted(plan, p.identities), { timeoutMs: ctx.timeoutMs, since, progress: say });
  const at = new Date().toISOString();
  if (v.ok) {
    const verified = { at, by: v.by, ...(v.pod ? { pod: v.pod } : {}) };
    await patchLatest<Workload>(ctx.kube, header, (cur) => {
      const r = workloadRecordOf(cur);
      return r ? recordPatch({ ...r, verified, failed: undefined }) : undefined;
    });
    return { namespace: p.namespace, ref: p.ref, verified: true, changed: true };
  }
  say(`failed verification: ${v.reason}; putting it back on pod identity`);
  await patchLatest<Workload>(ctx.kube, header, (cur) => {
    const r = workloadRecordOf(cur);
    return r ? restorePatch(cur, r, { ...r, verified: undefined, failed: { at, reason: v.reason } }) : undefined;
  });
  return { namespace: p.namespace, ref: p.ref, verified: false, reason: v.reason, changed: true };
}

/** Phase 4: the workloads' new pods get tokens through workload identity, a few workloads at a time. */
function verifyStep(ctx: MigrateContext, targets: WorkloadPlan[], plan: MigrationPlan, since: Date, outcomes: WorkloadOutcome[]): Step {
  const refs = targets.map((p) => `${p.ref} in ${p.namespace}`);
  return {
    name: `verify on workload identity (${VERIFY_CONCURRENCY} at a time): ${refs.join(", ")}`,
    target: "cluster",
    limitMs: ctx.timeoutMs * Math.ceil(targets.length / VERIFY_CONCURRENCY),
    plan: async () => ({ action: "none", detail: { workloads: refs } }),
    apply: async (progress) => {
      // Those refused at admission were left as they were: nothing of theirs to verify.
      const todo = targets.filter((p) => !outcomes.some((o) => o.namespace === p.namespace && o.ref === p.ref));
      const results = await mapConcurrent(todo, VERIFY_CONCURRENCY, (p) => verifyOne(ctx, p, plan, since, progress));
      for (const { changed: _, ...o } of results) outcomes.push(o);
      return { outcome: results.some((r) => r.changed) ? "updated" : "unchanged", detail: { workloads: results.map(({ changed: _, ...o }) => o) } };
    },
  };
}

/**
 * `--enable-workload-identity`: the cluster's switches first (what `az aks update --enable-oidc-issuer
 * --enable-workload-identity` sends), then the plan again, which now knows the issuer's URL. A dry run cannot know
 * it: AKS makes it up when the issuer is switched on; the plan's credential names say so.
 */
async function enableFirst(ctx: MigrateContext, planned: Awaited<ReturnType<typeof loadPlan>>, dryRun: boolean): Promise<{ loaded: Awaited<ReturnType<typeof loadPlan>>; report?: StepReport }> {
  const { plan } = planned;
  if (!ctx.enableWorkloadIdentity || !plan.blockers.some((b) => CLUSTER_SWITCH_BLOCKERS.has(b.code))) return { loaded: planned };
  const step = `AKS cluster ${ctx.cluster.name}: OIDC issuer and workload identity (${enableWorkloadIdentityCommand(ctx.cluster.resourceGroup, ctx.cluster.name)})`;
  if (dryRun) return { loaded: { ...planned, plan: { ...plan, blockers: plan.blockers.filter((b) => !CLUSTER_SWITCH_BLOCKERS.has(b.code)) } }, report: { step, target: "azure", action: "update" } };
  ctx.progress.begin?.(step);
  await enableWorkloadIdentity(ctx.azure, ctx.cluster.resourceGroup, ctx.cluster.name);
  ctx.progress.end?.("updated");
  return { loaded: await loadPlan(ctx), report: { step, target: "azure", outcome: "updated" } };
}

export async function applyMigration(ctx: MigrateContext, options: { dryRun: boolean }): Promise<ApplyResult> {
  const enabled = await enableFirst(ctx, await loadPlan(ctx), options.dryRun);
  const { plan, inventory } = enabled.loaded;
  if (plan.blockers.length) throw blockedError(plan);
  if (!plan.workloads.length) {
    throw new MigrateError(MigrateCode.NothingToMigrate, `no workload in ${ctx.scope.namespace ? `namespace ${ctx.scope.namespace}` : "the cluster"}${ctx.scope.identity ? ` uses identity ${ctx.scope.identity}` : " uses pod identity"}${ctx.scope.workloads.length ? ` among ${plan.scope.workloads.join(", ")}` : ""}`, {
      remedy: "Check --namespace/-A, --identity and --workload; podid migrate plan lists what it finds.",
    });
  }
  const targets = plan.workloads.filter((w) => w.migratable && w.state !== "finished");
  // Finished workloads still need their credentials and ServiceAccounts: phases 1 and 2 put back what went missing.
  const refs = new Set(plan.workloads.filter((w) => w.migratable).map((w) => `${w.namespace}/${w.ref}`));
  const credentials = plan.federatedCredentials.filter((c) => c.workloads.some((r) => refs.has(r)));
  const service = new FederatedCredentialService(ctx.azure, { onRetry: ctx.progress });
  const since = new Date();
  const outcomes: WorkloadOutcome[] = [];
  const steps: Step[] = credentials.map((c) => credentialStep(service, c));
  const accounts = plan.serviceAccounts.filter((s) => s.workloads.some((ref) => refs.has(`${s.namespace}/${ref}`)));
  for (const s of accounts) {
    const object = serviceAccountObject(s, plan, inventory);
    steps.push({
      name: `ServiceAccount ${s.namespace}/${s.name} (${CLIENT_ID_ANNOTATION}=${s.clientId})`,
      target: "cluster",
      plan: async () => ({ action: s.action === "none" ? "none" : s.action === "create" ? "create" : "update", detail: { namespace: s.namespace, name: s.name, object } }),
      apply: async () => ({ outcome: (await ctx.kube.apply(object)).result, detail: { namespace: s.namespace, name: s.name } }),
    });
  }
  for (const c of credentials) {
    const identity = plan.identities.find((i) => `${i.namespace}/${i.name}` === c.identity)!;
    if (c.audiences[0] === TOKEN_EXCHANGE_AUDIENCE) steps.push(propagationStep(ctx, c, identity));
  }
  for (const p of targets) {
    const w = inventory.workloads.find((x) => x.kind === p.kind && x.metadata.namespace === p.namespace && x.metadata.name === p.name)!;
    steps.push(workloadStep(ctx, p, plan, w, outcomes));
  }
  if (targets.length) steps.push(verifyStep(ctx, targets, plan, since, outcomes));
  const reports = await runSteps(steps, { dryRun: options.dryRun, progress: ctx.progress });
  const order = (o: WorkloadOutcome) => targets.findIndex((p) => p.namespace === o.namespace && p.ref === o.ref);
  outcomes.sort((a, b) => order(a) - order(b));
  return {
    steps: enabled.report ? [enabled.report, ...reports] : reports,
    workloads: outcomes,
    failed: outcomes.filter((o) => !o.verified),
    blocked: plan.workloads.filter((w) => !w.migratable).map((w) => ({ namespace: w.namespace, ref: w.ref, blockers: w.blockers.map((b) => b.message) })),
    warnings: plan.warnings,
    dryRun: options.dryRun,
  };
}
