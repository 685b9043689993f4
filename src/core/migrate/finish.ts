import { setTimeout as sleep } from "node:timers/promises";
import type { V1Lease, V1Node } from "@kubernetes/client-node";
import { MigrateCode, MigrateError } from "../../errors/index.js";
import { computeTargetOfProviderId, ComputeIdentities, type ComputeTarget } from "../../azure/scale-sets.js";
import { AAD_POD_IDENTITY_API_VERSION, BINDING_LABEL, type AzureAssignedIdentity } from "../../aadpodidentity/types.js";
import { componentSelector } from "../../aadpodidentity/contract/names.js";
import { atTemplate, patchLatest, podTemplateOf, workloadHeader, type Workload, type WorkloadKind } from "../../kube/workloads.js";
import { PREEXISTING_ANNOTATION } from "../../aadpodidentity/contract/preexisting.js";
import { bindingSpec, identitySpec } from "../../aadpodidentity/spec.js";
import { leaseOf } from "../doctor/checks/runtime-pods.js";
import { runSteps, type Step, type StepReport } from "../steps.js";
import { loadPlan, type MigrateContext } from "./load.js";
import { bindingUsers, readPodIdentityUse } from "./pod-identity-use.js";
import type { Inventory } from "./inventory.js";
import { workloadRecordOf, type WorkloadRecord } from "./records.js";
import { recordPatch } from "./workload-changes.js";
import { waitForRollout } from "./rollout.js";
import { exchangeFor, type ExchangeIdentity } from "./verify.js";

/**
 * `podid migrate finish`: for verified workloads only — their aadpodidbinding label goes (a rollout onto workload
 * identity alone), then the bindings and AzureIdentities nothing uses any more, then MIC releases the identities
 * from the scale sets (waited for, as ARM shows it). The identities and their role assignments stay in Azure: the
 * workloads use them.
 */

export interface FinishResult {
  steps: StepReport[];
  finished: { namespace: string; ref: string }[];
  notFinished: { namespace: string; ref: string; reason: string }[];
  /** Whether anything in the cluster still uses pod identity (AzureIdentities, labelled pods or templates). */
  podIdentityInUse: boolean;
  next?: string;
  dryRun: boolean;
}

const POLL_MS = 2000;

/**
 * The identities finish checks a verified workload with: those its record names (the AzureIdentity may be gone),
 * with their client and tenant ids as Azure has them. Without a record, or an identity Azure does not show, it
 * cannot be checked, and then it is not finished.
 */
export function recheckIdentities(record: WorkloadRecord | undefined, inventory: Pick<Inventory, "azure">): { identities: ExchangeIdentity[] } | { cannot: string } {
  if (!record?.identities.length) return { cannot: "podid's record on it names no identity" };
  const identities: ExchangeIdentity[] = [];
  for (const i of record.identities) {
    const facts = inventory.azure.get(i.resourceID.toLowerCase());
    if (!facts?.identity) return { cannot: `identity ${i.namespace}/${i.name} (${i.resourceID}) cannot be read in Azure${facts?.missing ? `: ${facts.missing}` : ""}` };
    identities.push({ namespace: i.namespace, name: i.name, clientId: facts.identity.clientId, tenantId: facts.identity.tenantId });
  }
  return { identities };
}

/** Identities MIC found on a scale set before it ran (it never detaches them), from its leader Lease. */
async function preexistingIdentities(ctx: MigrateContext): Promise<Set<string>> {
  const out = new Set<string>();
  const mics = await ctx.kube.list<Workload>("apps/v1", "Deployment", undefined, componentSelector("mic")).catch(() => []);
  for (const d of mics) {
    const lease = await ctx.kube.read<V1Lease>({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: leaseOf(d as never) }).catch(() => undefined);
    try {
      for (const ids of Object.values(JSON.parse(lease?.metadata?.annotations?.[PREEXISTING_ANNOTATION] ?? "{}") as Record<string, unknown>)) {
        if (Array.isArray(ids)) for (const id of ids) out.add(String(id).toLowerCase());
      }
    } catch {
      // no readable record: nothing counts as pre-existing
    }
  }
  return out;
}

/** Waits until no AzureAssignedIdentity names the identities and no node's scale set holds them (MIC's work). */
function detachStep(ctx: MigrateContext, deleted: Map<string, string>): Step {
  return {
    name: "MIC releases the finished identities from the nodes' scale sets",
    target: "azure",
    plan: async () => ({ action: "none" }),
    apply: async (progress) => {
      if (!deleted.size) return { outcome: "unchanged" };
      const nodes = await ctx.kube.list<V1Node>("v1", "Node");
      const targets = new Map<string, ComputeTarget>();
      for (const n of nodes) {
        const t = computeTargetOfProviderId(n.spec?.providerID);
        if (t) targets.set(t.id, t);
      }
      const before = await preexistingIdentities(ctx);
      const compute = new ComputeIdentities(ctx.azure, { maxRetryMs: 30_000 });
      const deadline = Date.now() + ctx.timeoutMs;
      let detached = false;
      for (;;) {
        const assigned = (await ctx.kube.list<AzureAssignedIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureAssignedIdentity").catch(() => [])).filter((a) =>
          deleted.has(identitySpec(a.spec.azureIdentityRef).resourceID.toLowerCase()),
        );
        const holding: string[] = [];
        for (const t of targets.values()) {
          const state = await compute.get(t);
          for (const id of deleted.keys()) if (state.identities.has(id) && !before.has(id)) holding.push(`${t.name} holds ${deleted.get(id)}`);
        }
        if (!assigned.length && !holding.length) return { outcome: detached ? "deleted" : "absent", detail: { identities: [...deleted.values()] } };
        detached = true;
        if (Date.now() > deadline) {
          throw new MigrateError(MigrateCode.IdentityNotDetached, `MIC has not released the identities after ${Math.round(ctx.timeoutMs / 1000)}s: ${[...assigned.map((a) => `AzureAssignedIdentity ${a.metadata.namespace}/${a.metadata.name}`), ...holding].join("; ")}`, {
            remedy: "Check MIC with podid doctor (checks mic, scale-set-errors), then run podid migrate finish again; or detach by hand: az vmss identity remove -g <node group> -n <scale set> --identities <id>.",
          });
        }
        progress(`waiting for MIC: ${[...(assigned.length ? [`${assigned.length} AzureAssignedIdentit${assigned.length === 1 ? "y" : "ies"}`] : []), ...holding].join(", ")}`);
        await sleep(POLL_MS);
      }
    },
  };
}

export async function finishMigration(ctx: MigrateContext, options: { dryRun: boolean }): Promise<FinishResult> {
  const { plan, inventory } = await loadPlan(ctx);
  const verified = plan.workloads.filter((w) => w.state === "verified");
  const done = plan.workloads.filter((w) => w.state === "finished" || w.state === "verified");
  const notFinished = plan.workloads
    .filter((w) => w.state === "pod-identity" || w.state === "both")
    .map((w) => ({ namespace: w.namespace, ref: w.ref, reason: w.lastFailure ? `left on pod identity by the last apply: ${w.lastFailure.reason}` : w.blockers.length ? `blocked: ${w.blockers.map((b) => b.message).join("; ")}` : "not verified on workload identity: run podid migrate apply" }));
  const steps: Step[] = [];
  for (const p of verified) {
    const header = workloadHeader(p.kind as WorkloadKind, p.namespace, p.name);
    steps.push({
      name: `${p.kind} ${p.namespace}/${p.name}: remove ${BINDING_LABEL}`,
      target: "cluster",
      plan: async () => ({ action: "update", detail: { kind: p.kind, namespace: p.namespace, name: p.name } }),
      apply: async () => {
        // Verified once, but things may have changed since (a ServiceAccount, credential or AzureIdentity deleted):
        // the exchange again before pod identity goes, for the identities the record names; a workload that fails
        // it, or that cannot be checked, keeps its label, and so its binding.
        const w = inventory.workloads.find((x) => x.kind === p.kind && x.metadata.namespace === p.namespace && x.metadata.name === p.name);
        const record = workloadRecordOf(w);
        const check = recheckIdentities(record, inventory);
        const refused =
          "cannot" in check
            ? { message: `it cannot be checked again: ${check.cannot}` }
            : await exchangeFor(ctx.kube, ctx.azure.cloud, { namespace: p.namespace, serviceAccount: record!.serviceAccount.after, identities: check.identities }).catch((err: Error) => ({ message: err.message }));
        if (refused) {
          notFinished.push({ namespace: p.namespace, ref: p.ref, reason: `no longer passes verification: ${refused.message}; run podid migrate apply` });
          return { outcome: "unchanged", detail: { kept: refused.message } };
        }
        const { patched } = await patchLatest<Workload>(ctx.kube, header, (w) => {
          const r = workloadRecordOf(w);
          if (!podTemplateOf(w)?.metadata?.labels?.[BINDING_LABEL] && r?.finished) return undefined;
          return { ...recordPatch(r ? { ...r, finished: { at: new Date().toISOString() } } : null), ...atTemplate(w.kind, { metadata: { labels: { [BINDING_LABEL]: null } } }) };
        });
        return { outcome: patched ? "updated" : "unchanged", detail: { kind: p.kind, namespace: p.namespace, name: p.name } };
      },
    });
  }
  const since = new Date();
  for (const p of done) {
    steps.push({
      name: `${p.kind} ${p.namespace}/${p.name}: rolled out on workload identity alone`,
      target: "cluster",
      plan: async () => ({ action: "none" }),
      apply: async (progress) => {
        const r = await waitForRollout(ctx.kube, { kind: p.kind as WorkloadKind, namespace: p.namespace, name: p.name }, { timeoutMs: ctx.timeoutMs, since, progress });
        if (!r.complete) throw new MigrateError(MigrateCode.RolloutIncomplete, `${p.ref} in ${p.namespace}: ${r.reason}`, { remedy: "Fix what keeps its pods from becoming ready, then run podid migrate finish again." });
        return { outcome: "unchanged" };
      },
    });
  }
  // Bindings and AzureIdentities of the finished workloads that nothing uses any more, decided on fresh reads.
  const identities = new Map<string, { namespace: string; name: string; resourceID: string }>();
  for (const p of done) {
    const w = inventory.workloads.find((x) => x.kind === p.kind && x.metadata.namespace === p.namespace && x.metadata.name === p.name);
    for (const i of workloadRecordOf(w)?.identities ?? []) identities.set(`${i.namespace}/${i.name}`, i);
  }
  const deleted = new Map<string, string>();
  const candidates = inventory.bindings.filter((b) => identities.has(`${b.metadata.namespace}/${bindingSpec(b).azureIdentity}`));
  for (const b of candidates) {
    const ref = `AzureIdentityBinding ${b.metadata.namespace}/${b.metadata.name}`;
    steps.push({
      name: ref,
      target: "cluster",
      plan: async () => ({ action: "delete" }),
      apply: async () => {
        const users = bindingUsers(await readPodIdentityUse(ctx.kube), b, inventory.forceNamespaced);
        if (users.length) return { outcome: "unchanged", detail: { kept: `still selects ${users.map((u) => `${u.namespace}/${u.ref}`).join(", ")}` } };
        return { outcome: (await ctx.kube.delete({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentityBinding", metadata: { name: b.metadata.name, namespace: b.metadata.namespace } })) ? "deleted" : "absent" };
      },
    });
  }
  for (const [key, i] of identities) {
    steps.push({
      name: `AzureIdentity ${key}`,
      target: "cluster",
      plan: async () => ({ action: "delete" }),
      apply: async () => {
        const use = await readPodIdentityUse(ctx.kube);
        const binding = use.bindings.find((b) => b.metadata.namespace === i.namespace && bindingSpec(b).azureIdentity === i.name);
        if (binding) return { outcome: "unchanged", detail: { kept: `AzureIdentityBinding ${binding.metadata.namespace}/${binding.metadata.name} still names it` } };
        const existed = await ctx.kube.delete({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name: i.name, namespace: i.namespace } });
        deleted.set(i.resourceID.toLowerCase(), key);
        return { outcome: existed ? "deleted" : "absent" };
      },
    });
  }
  if (identities.size) steps.push(detachStep(ctx, deleted));
  const reports = await runSteps(steps, { dryRun: options.dryRun, progress: ctx.progress });
  const use = options.dryRun ? undefined : await readPodIdentityUse(ctx.kube);
  const inUse = use ? use.identities.length > 0 || use.users.size > 0 : true;
  return {
    steps: reports,
    finished: done.filter((w) => !notFinished.some((n) => n.namespace === w.namespace && n.ref === w.ref)).map((w) => ({ namespace: w.namespace, ref: w.ref })),
    notFinished,
    podIdentityInUse: inUse,
    ...(inUse ? {} : { next: "nothing in the cluster uses pod identity any more: `podid uninstall` removes MIC, NMI, the CRDs and the kubelet identity's grants podid made" }),
    dryRun: options.dryRun,
  };
}
