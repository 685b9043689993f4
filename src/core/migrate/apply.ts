import type { KubernetesObject, V1ServiceAccount } from "@kubernetes/client-node";
import { MigrateCode, MigrateError } from "../../errors/index.js";
import { enableWorkloadIdentity } from "../../azure/cluster-workload-identity.js";
import { FederatedCredentialService, sameFederation } from "../../azure/federated-credentials.js";
import { CLIENT_ID_ANNOTATION, enableWorkloadIdentityCommand, TOKEN_EXCHANGE_AUDIENCE } from "../../kube/workload-identity.js";
import { patchLatest, readWorkload, workloadHeader, type Workload, type WorkloadKind } from "../../kube/workloads.js";
import { retry } from "../../util/retry.js";
import { runSteps, type Step, type StepReport } from "../steps.js";
import type { Inventory } from "./inventory.js";
import { loadPlan, type MigrateContext } from "./load.js";
import type { CredentialPlan, IdentityPlan, MigrationPlan, ServiceAccountPlan, WorkloadPlan } from "./model.js";
import { newServiceAccountRecord, RECORD_ANNOTATION, recordText, serviceAccountRecordOf, workloadRecordOf } from "./records.js";
import { exchangeFor, verifyWorkload, type Refusal } from "./verify.js";
import { asManifest, migratePatch, migrated, restorePatch, templateAsPlanned, workloadRecordFor } from "./workload-changes.js";

/**
 * `podid migrate apply`: the phases as named, idempotent steps — (1) federated credentials in Azure, (2)
 * ServiceAccounts, Entra ID's propagation proved by a token exchange, (3) the workloads' pod templates (the
 * aadpodidbinding label kept, so every pod has a path while the rollout runs), (4) verification of each workload
 * on its new pods. A workload that fails verification is put back on pod identity and reported; the others go on.
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
  /** Left on pod identity by verification: why, and that the template was put back. */
  failed: WorkloadOutcome[];
  /** Not moved: what blocks each. */
  blocked: { namespace: string; ref: string; blockers: string[] }[];
  warnings: string[];
  dryRun: boolean;
}

const wanted = (plan: MigrationPlan, names: string[]) => plan.identities.filter((i) => names.includes(`${i.namespace}/${i.name}`));

export function blockedError(plan: MigrationPlan): MigrateError {
  return new MigrateError(MigrateCode.MigrationBlocked, plan.blockers.map((b) => b.message).join("; "), {
    remedy: [...new Set(plan.blockers.map((b) => b.remedy).filter(Boolean))].join("\n"),
    details: { blockers: plan.blockers },
  });
}

/** Phase 1: one credential, written unless Azure has it with this value already. */
function credentialStep(service: FederatedCredentialService, c: CredentialPlan): Step {
  const value = { issuer: c.issuer!, subject: c.subject, audiences: c.audiences };
  const detail = { identity: c.identity, identityResourceId: c.identityResourceId, name: c.name, ...value };
  return {
    name: `federated credential ${c.name} of identity ${c.identity} for ${c.subject}`,
    target: "azure",
    plan: async () => ({ action: c.action, detail }),
    apply: async () => {
      const existing = await service.get(c.identityResourceId, c.name);
      if (existing && sameFederation(existing, value)) return { outcome: "unchanged", detail };
      const { created } = await service.put(c.identityResourceId, c.name, value);
      return { outcome: created ? "created" : "updated", detail };
    },
  };
}

/** Phase 2: the ServiceAccount, annotated with the client id, with podid's record of what it made. */
function serviceAccountObject(s: ServiceAccountPlan, plan: MigrationPlan, inv: Inventory): KubernetesObject {
  const existing = inv.serviceAccounts.find((a) => a.metadata?.namespace === s.namespace && a.metadata?.name === s.name);
  const before = serviceAccountRecordOf(existing);
  const created = before?.created ?? !existing;
  const subject = `system:serviceaccount:${s.namespace}:${s.name}`;
  const credentials = [...(before?.credentials ?? [])];
  for (const c of plan.federatedCredentials.filter((f) => f.subject === subject && f.podids)) {
    if (!credentials.some((r) => r.identity.toLowerCase() === c.identityResourceId.toLowerCase() && r.name === c.name)) credentials.push({ identity: c.identityResourceId, name: c.name });
  }
  const annotations = new Set(before?.annotations ?? []);
  if (existing?.metadata?.annotations?.[CLIENT_ID_ANNOTATION] === undefined) annotations.add(CLIENT_ID_ANNOTATION);
  const record = newServiceAccountRecord({ created, annotations: [...annotations].sort(), credentials });
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

/** Phase 3: the pod template on workload identity, the aadpodidbinding label kept. */
function workloadStep(ctx: MigrateContext, p: WorkloadPlan, plan: MigrationPlan, w: Workload): Step {
  const identities = wanted(plan, p.identities);
  const header = workloadHeader(p.kind as WorkloadKind, p.namespace, p.name);
  return {
    name: `${p.kind} ${p.namespace}/${p.name}: label ${Object.keys(p.podTemplateLabels).join(", ")}, ServiceAccount ${p.serviceAccount!.target}${p.proxySidecar ? ", proxy sidecar" : ""}`,
    target: "cluster",
    plan: async () => {
      const record = workloadRecordFor(w, p, identities);
      return { action: migrated(w, p, record) ? "none" : "update", detail: { kind: p.kind, namespace: p.namespace, name: p.name, object: asManifest(w, migratePatch(w, p, record)) } };
    },
    apply: async () => {
      const { patched } = await patchLatest<Workload>(ctx.kube, header, (current) => {
        const record = workloadRecordFor(current, p, identities);
        return migrated(current, p, record) ? undefined : migratePatch(current, p, record);
      });
      return { outcome: patched ? "updated" : "unchanged", detail: { kind: p.kind, namespace: p.namespace, name: p.name } };
    },
  };
}

/** Phase 4: a new pod gets a token through workload identity; else the workload goes back to pod identity. */
function verifyStep(ctx: MigrateContext, p: WorkloadPlan, plan: MigrationPlan, since: Date, outcomes: WorkloadOutcome[]): Step {
  const header = workloadHeader(p.kind as WorkloadKind, p.namespace, p.name);
  const identities = wanted(plan, p.identities);
  return {
    name: `verify ${p.ref} in ${p.namespace} on workload identity`,
    target: "cluster",
    plan: async () => ({ action: "none", detail: { ref: p.ref, namespace: p.namespace } }),
    apply: async (progress) => {
      const w = await readWorkload(ctx.kube, p.kind as WorkloadKind, p.namespace, p.name);
      const record = workloadRecordOf(w);
      if (w && record?.verified && templateAsPlanned(w, p)) {
        outcomes.push({ namespace: p.namespace, ref: p.ref, verified: true });
        return { outcome: "unchanged", detail: { ref: p.ref, verified: true, ...record.verified } };
      }
      const v = await verifyWorkload(ctx.kube, ctx.azure.cloud, p, identities, { timeoutMs: ctx.timeoutMs, since, progress });
      const at = new Date().toISOString();
      if (v.ok) {
        const verified = { at, by: v.by, ...(v.pod ? { pod: v.pod } : {}) };
        await patchLatest<Workload>(ctx.kube, header, (cur) => {
          const r = workloadRecordOf(cur);
          return r ? { metadata: { annotations: { [RECORD_ANNOTATION]: recordText({ ...r, verified, failed: undefined }) } } } : undefined;
        });
        outcomes.push({ namespace: p.namespace, ref: p.ref, verified: true });
        return { outcome: "updated", detail: { ref: p.ref, verified: true, ...verified } };
      }
      progress(`${p.ref} in ${p.namespace} failed verification: ${v.reason}; putting it back on pod identity`);
      await patchLatest<Workload>(ctx.kube, header, (cur) => {
        const r = workloadRecordOf(cur);
        return r ? restorePatch(cur, r, { ...r, verified: undefined, failed: { at, reason: v.reason } }) : undefined;
      });
      outcomes.push({ namespace: p.namespace, ref: p.ref, verified: false, reason: v.reason });
      return { outcome: "updated", detail: { ref: p.ref, verified: false, reason: v.reason, leftOnPodIdentity: true } };
    },
  };
}

const CLUSTER_SWITCHES = new Set(["OidcIssuerDisabled", "WorkloadIdentityDisabled"]);

/**
 * `--enable-workload-identity`: the cluster's switches first (what `az aks update --enable-oidc-issuer
 * --enable-workload-identity` sends), then the plan again, which now knows the issuer's URL.
 */
async function enableFirst(ctx: MigrateContext, planned: Awaited<ReturnType<typeof loadPlan>>, dryRun: boolean): Promise<{ loaded: Awaited<ReturnType<typeof loadPlan>>; report?: StepReport }> {
  const { plan } = planned;
  if (!ctx.enableWorkloadIdentity || !plan.blockers.some((b) => CLUSTER_SWITCHES.has(b.code))) return { loaded: planned };
  const step = `AKS cluster ${ctx.cluster.name}: OIDC issuer and workload identity (${enableWorkloadIdentityCommand(ctx.cluster.resourceGroup, ctx.cluster.name)})`;
  if (dryRun) return { loaded: { ...planned, plan: { ...plan, blockers: plan.blockers.filter((b) => !CLUSTER_SWITCHES.has(b.code)) } }, report: { step, target: "azure", action: "update" } };
  ctx.progress(`${step} ...`);
  await enableWorkloadIdentity(ctx.azure, ctx.cluster.resourceGroup, ctx.cluster.name);
  ctx.progress(`${step}: updated`);
  return { loaded: await loadPlan(ctx), report: { step, target: "azure", outcome: "updated" } };
}

export async function applyMigration(ctx: MigrateContext, options: { dryRun: boolean }): Promise<ApplyResult> {
  const enabled = await enableFirst(ctx, await loadPlan(ctx), options.dryRun);
  const { plan, inventory } = enabled.loaded;
  if (plan.blockers.length) throw blockedError(plan);
  if (!plan.workloads.length) {
    throw new MigrateError(MigrateCode.NothingToMigrate, `no workload in ${ctx.scope.namespace ? `namespace ${ctx.scope.namespace}` : "the cluster"}${ctx.scope.identity ? ` uses identity ${ctx.scope.identity}` : " uses pod identity"}${ctx.scope.workloads.length ? ` among ${plan.scope.workloads.join(", ")}` : ""}`, {
      remedy: "Check -n/-A, --identity and --workload; podid migrate plan lists what it finds.",
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
    steps.push(workloadStep(ctx, p, plan, w));
  }
  for (const p of targets) steps.push(verifyStep(ctx, p, plan, since, outcomes));
  const reports = await runSteps(steps, { dryRun: options.dryRun, progress: ctx.progress });
  return {
    steps: enabled.report ? [enabled.report, ...reports] : reports,
    workloads: outcomes,
    failed: outcomes.filter((o) => !o.verified),
    blocked: plan.workloads.filter((w) => !w.migratable).map((w) => ({ namespace: w.namespace, ref: w.ref, blockers: w.blockers.map((b) => b.message) })),
    warnings: plan.warnings,
    dryRun: options.dryRun,
  };
}
