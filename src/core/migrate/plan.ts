import { isActivePod } from "../../aadpodidentity/pods.js";
import type { V1Pod, V1PodTemplateSpec } from "@kubernetes/client-node";
import { BINDING_LABEL, IdentityType, type AzureIdentity, type AzureIdentityBinding } from "../../aadpodidentity/types.js";
import { AKS_ADDON_LABEL, AKS_ADDON_LABEL_VALUE, NAME_LABEL, NAME_LABEL_VALUE } from "../../aadpodidentity/contract/names.js";
import { MAX_FEDERATED_CREDENTIALS } from "../../azure/federated-credentials.js";
import { CLIENT_ID_ANNOTATION, enableWorkloadIdentityCommand, INJECT_PROXY_ANNOTATION, serviceAccountSubject, TOKEN_EXCHANGE_AUDIENCE, USE_LABEL } from "../../kube/workload-identity.js";
import { cronJobOf, isWorkloadKind, jobFinished, ownerIndex, podOwner, podTemplateOf, templateServiceAccount, workloadRef, type Workload } from "../../kube/workloads.js";
import { bindingSpec, identitySpec, invalidIdentityReason } from "../../aadpodidentity/spec.js";
import { isExceptionPod } from "../../aadpodidentity/exceptions.js";
import { identityOf, reaches } from "../doctor/checks/matching.js";
import type { Inventory, MigrateScope } from "./inventory.js";
import {
  BlockerCode,
  MIGRATION_SCHEMA_VERSION,
  type Blocker,
  type CredentialPlan,
  type IdentityPlan,
  type MigrationPlan,
  type MigrationState,
  type ServiceAccountPlan,
  type WorkloadPlan,
} from "./model.js";
import { credentialName, recordedIdentity, serviceAccountRecordOf, workloadRecordOf, type WorkloadRecord } from "./records.js";

/**
 * The migration plan, computed from what was read (no I/O): each workload that pod identity serves in the
 * namespace(s), found from its pods' owners and from its pod template's aadpodidbinding label (a CronJob between
 * runs, a Deployment scaled to 0) or podid's record (after finish); the ServiceAccount it will use, the federated
 * credentials, annotations and labels it needs, and what blocks it. Every workload of the namespace(s) is weighed
 * (who shares a ServiceAccount, whose name a new one would take); --workload and --identity only choose which of
 * them the plan moves, never its verdict on one.
 */

const key = (o: { namespace?: string; name: string }) => `${o.namespace ?? ""}/${o.name}`;
const identityKey = (i: AzureIdentity) => key({ namespace: i.metadata.namespace, name: i.metadata.name });
/** AKS add-ons and podid's own runtime keep the node's identities: not the user's workloads to move. */
const isSystemPod = (p: V1Pod) => p.metadata?.labels?.[AKS_ADDON_LABEL] === AKS_ADDON_LABEL_VALUE || p.metadata?.labels?.[NAME_LABEL] === NAME_LABEL_VALUE;
const resourceGroupOf = (resourceId: string) => resourceId.split("/")[4];
const resourceNameOf = (resourceId: string) => resourceId.split("/").pop();

interface Candidate {
  kind: string;
  namespace: string;
  name: string;
  workload?: Workload;
  template?: V1PodTemplateSpec;
  pods: V1Pod[];
  record?: WorkloadRecord;
  blockers: Blocker[];
  /** The selector the pods carry when the template does not. */
  podSelector?: string;
}

/** The AzureIdentities a selector gives pods of a namespace, with the bindings, by MIC's matching rules. */
function identitiesFor(selector: string, podNamespace: string, inv: Inventory): { identity: AzureIdentity; binding: AzureIdentityBinding }[] {
  const out = new Map<string, { identity: AzureIdentity; binding: AzureIdentityBinding }>();
  for (const binding of [...inv.bindings].sort((a, b) => key(a.metadata).localeCompare(key(b.metadata)))) {
    if (bindingSpec(binding).selector !== selector) continue;
    const identity = identityOf(binding, inv.identities);
    if (!identity || !reaches(binding, identity, podNamespace, inv.forceNamespaced)) continue;
    if (!out.has(identityKey(identity))) out.set(identityKey(identity), { identity, binding });
  }
  return [...out.values()].sort((a, b) => identityKey(a.identity).localeCompare(identityKey(b.identity)));
}

function matchesRef(c: { kind: string; name: string }, refs: { kind: string; name: string }[]): boolean {
  return refs.some((r) => r.kind.toLowerCase() === c.kind.toLowerCase() && r.name === c.name);
}

/** The identities a workload is migrated with: its label's, or (once finished) those recorded. */
function candidateIdentities(c: Candidate, inv: Inventory): AzureIdentity[] {
  const selector = c.template?.metadata?.labels?.[BINDING_LABEL] ?? c.podSelector;
  if (selector) return identitiesFor(selector, c.namespace, inv).map((m) => m.identity);
  return (c.record?.identities ?? []).map((r) => inv.identities.find((i) => i.metadata.namespace === r.namespace && i.metadata.name === r.name) ?? recordedIdentity(r));
}

/** Every workload of the inventory that pod identity serves (or podid moved), by `namespace/Kind/name`. */
function collectCandidates(inv: Inventory): Map<string, Candidate> {
  const index = ownerIndex(inv.replicaSets, inv.jobs);
  const byKey = new Map<string, Candidate>();
  const workloadOf = (kind: string, namespace: string, name: string) => inv.workloads.find((w) => w.kind === kind && w.metadata.namespace === namespace && w.metadata.name === name);
  const add = (kind: string, namespace: string, name: string): Candidate => {
    const k = `${namespace}/${kind}/${name}`;
    let c = byKey.get(k);
    if (!c) {
      const workload = isWorkloadKind(kind) ? workloadOf(kind, namespace, name) : undefined;
      c = { kind, namespace, name, workload, template: workload ? podTemplateOf(workload) : undefined, pods: [], record: workloadRecordOf(workload), blockers: [] };
      byKey.set(k, c);
    }
    return c;
  };
  for (const pod of inv.pods) {
    if (!isActivePod(pod) || isSystemPod(pod)) continue;
    const selector = pod.metadata?.labels?.[BINDING_LABEL];
    const exception = isExceptionPod(pod, inv.exceptions);
    if (!selector && !exception) continue;
    const ns = pod.metadata?.namespace ?? "default";
    const owner = podOwner(pod, index);
    const c = owner.type === "workload" ? add(owner.kind, ns, owner.name) : owner.type === "other" ? add(owner.kind, ns, owner.name) : add("Pod", ns, pod.metadata?.name ?? "");
    c.pods.push(pod);
    if (owner.type === "bare") c.template = { metadata: pod.metadata, spec: pod.spec };
    if (selector && !c.template?.metadata?.labels?.[BINDING_LABEL]) c.podSelector ??= selector;
    if (exception && !c.blockers.some((b) => b.code === BlockerCode.ExceptionPod)) {
      c.blockers.push({
        code: BlockerCode.ExceptionPod,
        message: `pod ${ns}/${pod.metadata?.name} matches an AzurePodIdentityException: it bypasses NMI and uses the node's identities, which workload identity does not give`,
        remedy: "Give it an identity of its own (podid identity add; podid bind --label), then migrate it; identities MIC attached for other pods leave the node when those are finished.",
      });
    }
  }
  for (const w of inv.workloads) {
    // A Job that has ended runs no pod again: nothing of it to move.
    if (jobFinished(w)) continue;
    const template = podTemplateOf(w);
    if (template?.metadata?.labels?.[BINDING_LABEL] || workloadRecordOf(w)) add(w.kind, w.metadata.namespace, w.metadata.name);
  }
  // Jobs a CronJob made are the CronJob's: its template is what changes.
  for (const [k, c] of byKey) {
    const cronJob = c.workload ? cronJobOf(c.workload) : undefined;
    if (!cronJob) continue;
    add("CronJob", c.namespace, cronJob).pods.push(...c.pods);
    byKey.delete(k);
  }
  return byKey;
}

interface Resolved {
  c: Candidate;
  identities: AzureIdentity[];
  plan: WorkloadPlan;
}

function stateOf(template: V1PodTemplateSpec | undefined, record: WorkloadRecord | undefined): MigrationState {
  const labels = template?.metadata?.labels ?? {};
  if (labels[USE_LABEL] !== "true") return "pod-identity";
  if (!labels[BINDING_LABEL]) return "finished";
  return record?.verified && templateServiceAccount(template) === record.serviceAccount.after ? "verified" : "both";
}

function resolve(c: Candidate, inv: Inventory): Resolved {
  const identities = candidateIdentities(c, inv);
  const state = stateOf(c.template, c.record);
  return {
    c,
    identities,
    plan: {
      kind: c.kind,
      namespace: c.namespace,
      name: c.name,
      ref: workloadRef(c),
      state,
      identities: identities.map(identityKey),
      selector: c.template?.metadata?.labels?.[BINDING_LABEL] ?? c.podSelector ?? null,
      pods: c.pods.length,
      serviceAccount: null,
      serviceAccountAnnotations: {},
      podTemplateLabels: {},
      podTemplateAnnotations: {},
      proxySidecar: false,
      federatedCredentials: [],
      migratable: false,
      blockers: [...c.blockers],
      lastFailure: state === "pod-identity" && c.record?.failed ? c.record.failed : null,
    },
  };
}

export interface PlanOptions {
  podidVersion: string;
  now: Date;
}

function clusterBlockers(inv: Inventory): Blocker[] {
  const blockers: Blocker[] = [];
  const enable = `${enableWorkloadIdentityCommand(inv.cluster.resourceGroup, inv.cluster.name)}   # or: podid migrate apply --enable-workload-identity`;
  if (!inv.cluster.profile.oidcIssuerEnabled) {
    blockers.push({ code: BlockerCode.OidcIssuerDisabled, message: `AKS cluster ${inv.cluster.name} has no OIDC issuer: federated credentials need its issuer URL`, remedy: enable });
  }
  if (!inv.cluster.profile.workloadIdentityEnabled) {
    blockers.push({ code: BlockerCode.WorkloadIdentityDisabled, message: `AKS cluster ${inv.cluster.name} does not have workload identity enabled: no webhook injects the token into pods`, remedy: enable });
  }
  return blockers;
}

/** The identity as Azure has it, with what keeps it from being federated. */
function identityPlan(i: AzureIdentity, inv: Inventory): IdentityPlan {
  const k = identityKey(i);
  const spec = identitySpec(i);
  const facts = inv.azure.get(spec.resourceID.toLowerCase());
  const plan: IdentityPlan = {
    namespace: i.metadata.namespace ?? "default",
    name: i.metadata.name,
    type: spec.type,
    resourceId: spec.resourceID,
    clientId: facts?.identity?.clientId ?? spec.clientID,
    tenantId: facts?.identity?.tenantId ?? null,
    bindings: inv.bindings.filter((b) => identityOf(b, inv.identities) === i).map((b) => ({ namespace: b.metadata.namespace ?? "default", name: b.metadata.name, selector: bindingSpec(b).selector })),
    credentials: { existing: facts?.credentials.length ?? 0, toCreate: 0, afterMigration: facts?.credentials.length ?? 0, limit: MAX_FEDERATED_CREDENTIALS },
    blockers: [],
  };
  if (spec.type !== IdentityType.userAssignedMSI) {
    plan.blockers.push({
      code: BlockerCode.ServicePrincipalIdentity,
      message: `AzureIdentity ${k} is of type ${spec.type} (a service principal with a secret${spec.type === IdentityType.servicePrincipalCertificate ? " or certificate" : ""}): workload identity federates user-assigned managed identities and app registrations, and podid does not move secrets`,
      remedy: `Create a user-assigned identity with the same roles (podid identity add -n ${i.metadata.name}-mi -g <group> --role ...), bind it instead, then migrate.`,
    });
  } else if (invalidIdentityReason(i)) {
    plan.blockers.push({ code: BlockerCode.InvalidIdentity, message: `AzureIdentity ${k}: ${invalidIdentityReason(i)}`, remedy: "Fix its spec.resourceID (podid identity add), or run podid doctor." });
  } else if (facts?.missing) {
    plan.blockers.push({ code: BlockerCode.IdentityNotFound, message: `AzureIdentity ${k}: ${facts.missing}`, remedy: "Re-create it (podid identity add ...) or remove the binding; podid doctor explains." });
  }
  return plan;
}

/** What the workload itself (its kind, its labels, its identities, the proxy) keeps from being moved. */
function workloadBlockers(r: Resolved, identityPlans: Map<string, IdentityPlan>, scope: MigrateScope): void {
  const { c, plan } = r;
  if (c.kind === "Pod") {
    plan.blockers.push({ code: BlockerCode.BarePod, message: `pod ${c.namespace}/${c.name} has no owner, so nothing re-creates it with a new template`, remedy: `Re-create it from a manifest with label ${USE_LABEL}: "true" and a ServiceAccount annotated ${CLIENT_ID_ANNOTATION}, or run it as a Deployment and migrate that.` });
  } else if (!isWorkloadKind(c.kind)) {
    plan.blockers.push({ code: BlockerCode.UnsupportedOwner, message: `${c.kind} ${c.namespace}/${c.name} owns the pods${c.kind === "ReplicaSet" ? " without a Deployment: a ReplicaSet does not replace its pods when its template changes" : ": podid does not edit its kind"}`, remedy: "Change the pod template where it is defined (the operator's resource, or your manifest) as the plan of a Deployment shows." });
  } else if (c.kind === "Job") {
    plan.blockers.push({ code: BlockerCode.ImmutableJob, message: `Job ${c.namespace}/${c.name}: a Job's pod template cannot change once created`, remedy: `Let it finish, and create the next one with label ${USE_LABEL}: "true" and its ServiceAccount annotated (or run it from a CronJob, which podid migrates).` });
  } else if (!c.template?.metadata?.labels?.[BINDING_LABEL] && c.podSelector && !c.record) {
    plan.blockers.push({ code: BlockerCode.LabelOnPodsOnly, message: `${plan.ref} in ${c.namespace}: its pods carry ${BINDING_LABEL}=${c.podSelector} but its pod template does not, so new pods would have no pod identity to fall back on`, remedy: `podid bind --selector ${c.podSelector} --identity <identity> --namespace ${c.namespace} --label ${plan.ref}` });
  }
  for (const i of r.identities) plan.blockers.push(...(identityPlans.get(identityKey(i))?.blockers ?? []));
  if (!r.identities.length && !plan.blockers.length) {
    plan.blockers.push({ code: BlockerCode.IdentityNotFound, message: `${plan.ref} in ${c.namespace}: no AzureIdentityBinding that MIC would use selects ${BINDING_LABEL}=${plan.selector ?? "(none)"}`, remedy: `Run podid doctor --namespace ${c.namespace}` });
  }
  plan.proxySidecar =
    scope.proxySidecarAll || matchesRef(c, scope.proxySidecarFor) || Boolean(c.record?.added.annotations.includes(INJECT_PROXY_ANNOTATION)) || c.template?.metadata?.annotations?.[INJECT_PROXY_ANNOTATION] === "true";
  if (plan.proxySidecar && c.template?.spec?.hostNetwork) {
    plan.blockers.push({ code: BlockerCode.ProxyOnHostNetwork, message: `${plan.ref} in ${c.namespace} runs on the host network: the webhook refuses the proxy sidecar there (it would take 169.254.169.254 from the whole node)`, remedy: "Migrate it without --proxy-sidecar (its SDK must support workload identity)." });
  }
}

/**
 * The federated credentials each workload needs: one per (identity, ServiceAccount), unless one with that issuer
 * and subject exists. Without an issuer yet, the names carry UNKNOWN_ISSUER_HASH. Returns, per workload, the keys
 * of what it needs (shared ones once), the plans by key.
 */
function credentialNeeds(resolved: Resolved[], identityPlans: Map<string, IdentityPlan>, inv: Inventory, issuer: string | null): { needs: Map<Resolved, string[]>; plans: Map<string, CredentialPlan> } {
  const plans = new Map<string, CredentialPlan>();
  const needs = new Map<Resolved, string[]>();
  for (const r of resolved) {
    const sa = r.plan.serviceAccount;
    if (!sa || r.plan.blockers.length) continue;
    const subject = serviceAccountSubject(r.c.namespace, sa.target);
    const keys: string[] = [];
    for (const i of r.identities) {
      const idPlan = identityPlans.get(identityKey(i))!;
      const k = `${idPlan.resourceId.toLowerCase()}|${subject}`;
      const existing = plans.get(k);
      if (existing) {
        existing.workloads.push(`${r.c.namespace}/${r.plan.ref}`);
        keys.push(k);
        continue;
      }
      const own = credentialName(issuer, r.c.namespace, sa.target);
      const facts = inv.azure.get(idPlan.resourceId.toLowerCase());
      const match = issuer ? facts?.credentials.find((f) => f.issuer === issuer && f.subject === subject) : undefined;
      if (match && !(match.audiences.length === 1 && match.audiences[0] === TOKEN_EXCHANGE_AUDIENCE)) {
        r.plan.blockers.push({
          code: BlockerCode.CredentialAudience,
          message: `identity ${idPlan.name}'s federated credential ${match.name} names this issuer and ${subject} with audience ${match.audiences.join(", ")}: Entra ID's exchange needs ${TOKEN_EXCHANGE_AUDIENCE}, and an identity holds one credential per issuer and subject`,
          remedy: `az identity federated-credential update --name ${match.name} --identity-name ${resourceNameOf(idPlan.resourceId)} --resource-group ${resourceGroupOf(idPlan.resourceId)} --audiences ${TOKEN_EXCHANGE_AUDIENCE}`,
        });
        continue;
      }
      plans.set(k, {
        identity: identityKey(i),
        identityResourceId: idPlan.resourceId,
        name: match?.name ?? own,
        issuer,
        subject,
        audiences: [TOKEN_EXCHANGE_AUDIENCE],
        action: match ? "none" : "create",
        podids: (match?.name ?? own) === own,
        workloads: [`${r.c.namespace}/${r.plan.ref}`],
      });
      keys.push(k);
    }
    needs.set(r, keys);
  }
  for (const [r, keys] of needs) r.plan.federatedCredentials = keys.map((k) => plans.get(k)?.name).filter((n): n is string => n !== undefined);
  return { needs, plans };
}

/**
 * Entra ID's 20 credentials per identity, given out workload by workload: first those podid moved already (a
 * credential deleted since is put back before any new workload takes the room), then the others in the plan's order.
 * A workload gets its credentials only when all of them fit; one that does not fit is blocked, and only it.
 */
function allotCredentials(resolved: Resolved[], identityPlans: Map<string, IdentityPlan>, needs: Map<Resolved, string[]>, plans: Map<string, CredentialPlan>, warnings: string[]): Map<string, CredentialPlan> {
  const allotted = new Map<string, CredentialPlan>();
  const room = new Map([...identityPlans.values()].map((p) => [p.resourceId.toLowerCase(), MAX_FEDERATED_CREDENTIALS - p.credentials.existing]));
  const shortOf = new Map<string, Resolved[]>();
  const order = [...needs.keys()].filter((r) => !r.plan.blockers.length).sort((a, b) => Number(Boolean(b.c.record)) - Number(Boolean(a.c.record)));
  for (const r of order) {
    const keys = needs.get(r)!.filter((k) => plans.has(k));
    const creates = new Map<string, number>();
    for (const k of keys) if (!allotted.has(k) && plans.get(k)!.action === "create") creates.set(plans.get(k)!.identityResourceId.toLowerCase(), (creates.get(plans.get(k)!.identityResourceId.toLowerCase()) ?? 0) + 1);
    const short = [...creates].filter(([id, n]) => n > (room.get(id) ?? 0)).map(([id]) => id);
    if (short.length) {
      for (const id of short) shortOf.set(id, [...(shortOf.get(id) ?? []), r]);
      continue;
    }
    for (const [id, n] of creates) room.set(id, (room.get(id) ?? 0) - n);
    for (const k of keys) allotted.set(k, plans.get(k)!);
  }
  for (const idPlan of identityPlans.values()) {
    const id = idPlan.resourceId.toLowerCase();
    const creates = [...allotted.values()].filter((c) => c.identityResourceId.toLowerCase() === id && c.action === "create").length;
    idPlan.credentials.toCreate = creates;
    idPlan.credentials.afterMigration = idPlan.credentials.existing + creates;
    const waiting = shortOf.get(id) ?? [];
    if (waiting.length) {
      const blocker: Blocker = {
        code: BlockerCode.CredentialLimit,
        message: `identity ${idPlan.namespace}/${idPlan.name} has ${idPlan.credentials.existing} federated credentials${creates ? ` and gets ${creates} more` : ""}: Entra ID allows ${MAX_FEDERATED_CREDENTIALS} per identity, so ${waiting.map((r) => `${r.plan.ref} in ${r.c.namespace}`).join(", ")} cannot have ${waiting.length === 1 ? "its" : "theirs"}`,
        remedy: `Delete unused ones (az identity federated-credential list --identity-name ${resourceNameOf(idPlan.resourceId)} --resource-group ${resourceGroupOf(idPlan.resourceId)}), share one ServiceAccount among the workloads of this identity, or use another identity for some of them.`,
      };
      idPlan.blockers.push(blocker);
      for (const r of waiting) r.plan.blockers.push(blocker);
    } else if (idPlan.credentials.afterMigration >= MAX_FEDERATED_CREDENTIALS - 2 && creates) {
      warnings.push(`identity ${idPlan.namespace}/${idPlan.name} will hold ${idPlan.credentials.afterMigration} of ${MAX_FEDERATED_CREDENTIALS} federated credentials`);
    }
  }
  // A credential only the blocked share is not made.
  for (const k of allotted.keys()) if (![...needs].some(([r, keys]) => keys.includes(k) && !r.plan.blockers.length)) allotted.delete(k);
  return allotted;
}

export function planMigration(inv: Inventory, scope: MigrateScope, options: PlanOptions): MigrationPlan {
  const issuer = inv.cluster.profile.issuerUrl ?? null;
  const blockers = clusterBlockers(inv);
  const warnings: string[] = [];
  const all = [...collectCandidates(inv).values()].sort((a, b) => `${a.namespace}/${a.kind}/${a.name}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}`)).map((c) => resolve(c, inv));
  const resolved = all.filter((r) => (!scope.workloads.length || matchesRef(r.c, scope.workloads)) && (!scope.identity || r.identities.some((i) => i.metadata.name === scope.identity)));

  const identityPlans = new Map<string, IdentityPlan>();
  for (const r of resolved) for (const i of r.identities) if (!identityPlans.has(identityKey(i))) identityPlans.set(identityKey(i), identityPlan(i, inv));
  for (const r of resolved) workloadBlockers(r, identityPlans, scope);
  const clientIdOf = (i: AzureIdentity) => identityPlans.get(identityKey(i))?.clientId ?? identitySpec(i).clientID;
  assignServiceAccounts(resolved, all, inv, clientIdOf, warnings);

  const { needs, plans } = credentialNeeds(resolved, identityPlans, inv, issuer);
  const credentials = allotCredentials(resolved, identityPlans, needs, plans, warnings);

  for (const r of resolved) {
    const p = r.plan;
    p.migratable = p.blockers.length === 0 && p.serviceAccount !== null;
    if (!p.serviceAccount) continue;
    p.serviceAccountAnnotations = { [CLIENT_ID_ANNOTATION]: clientIdOf(r.identities[0]) };
    p.podTemplateLabels = { [USE_LABEL]: "true" };
    p.podTemplateAnnotations = p.proxySidecar && r.c.template?.metadata?.annotations?.[INJECT_PROXY_ANNOTATION] !== "true" ? { [INJECT_PROXY_ANNOTATION]: "true" } : {};
    if (r.identities.length > 1 && p.migratable) {
      warnings.push(`${p.ref} in ${p.namespace} has ${r.identities.length} identities (${p.identities.join(", ")}): its ServiceAccount names ${p.identities[0]} (AZURE_CLIENT_ID); the app asks for the others by client id, as with pod identity`);
    }
  }
  const serviceAccounts = serviceAccountPlans(resolved, inv);
  const workloads = resolved.map((r) => r.plan);
  const states: Record<MigrationState, number> = { "pod-identity": 0, both: 0, verified: 0, finished: 0 };
  for (const w of workloads) states[w.state]++;
  return {
    schemaVersion: MIGRATION_SCHEMA_VERSION,
    podidVersion: options.podidVersion,
    generatedAt: options.now.toISOString(),
    cluster: { name: inv.cluster.name, resourceGroup: inv.cluster.resourceGroup, oidcIssuerEnabled: inv.cluster.profile.oidcIssuerEnabled, issuerUrl: issuer, workloadIdentityEnabled: inv.cluster.profile.workloadIdentityEnabled },
    scope: { namespace: scope.namespace ?? null, allNamespaces: scope.namespace === undefined, identity: scope.identity ?? null, workloads: scope.workloads.map(workloadRef) },
    proxySidecar: { all: scope.proxySidecarAll, workloads: scope.proxySidecarFor.map(workloadRef) },
    blockers,
    identities: [...identityPlans.values()],
    workloads,
    serviceAccounts,
    federatedCredentials: [...credentials.values()],
    warnings,
    summary: { workloads: workloads.length, migratable: workloads.filter((w) => w.migratable).length, blocked: workloads.filter((w) => !w.migratable).length, states },
  };
}

/**
 * The ServiceAccount of each workload in scope: its own when it has one that only workloads with the same
 * identities use (a ServiceAccount carries one identity, and any pod running as it could use every identity
 * federated with it); a new one named after the workload when it runs as `default`. Who else runs as a
 * ServiceAccount, and which names new ones take, is judged over every workload (`all`), in scope or not.
 */
function assignServiceAccounts(resolved: Resolved[], all: Resolved[], inv: Inventory, clientIdOf: (i: AzureIdentity) => string, warnings: string[]): void {
  const index = ownerIndex(inv.replicaSets, inv.jobs);
  const idsOf = (identities: AzureIdentity[]) => identities.map((i) => identitySpec(i).resourceID.toLowerCase()).sort().join(",");
  /** Who runs as each ServiceAccount (by namespace/name): workloads (a CronJob's Jobs count as the CronJob) and bare pods. */
  const users = new Map<string, { ref: string; identities: string }[]>();
  const use = (ns: string, sa: string, ref: string, identities: string) => {
    const k = `${ns}/${sa}`;
    const list = users.get(k) ?? [];
    if (!list.some((u) => u.ref === ref)) list.push({ ref, identities });
    users.set(k, list);
  };
  const moving = new Map(all.map((r) => [`${r.c.namespace}/${r.c.kind}/${r.c.name}`, r]));
  for (const w of inv.workloads) {
    if (cronJobOf(w) || jobFinished(w)) continue;
    const r = moving.get(`${w.metadata.namespace}/${w.kind}/${w.metadata.name}`);
    use(w.metadata.namespace, templateServiceAccount(podTemplateOf(w)), workloadRef({ kind: w.kind, name: w.metadata.name }), r ? idsOf(r.identities) : "");
  }
  for (const p of inv.pods) {
    if (!isActivePod(p) || podOwner(p, index).type !== "bare") continue;
    const r = moving.get(`${p.metadata?.namespace}/Pod/${p.metadata?.name}`);
    use(p.metadata?.namespace ?? "default", p.spec?.serviceAccountName ?? "default", `pod/${p.metadata?.name}`, r ? idsOf(r.identities) : "");
  }
  const saOf = (ns: string, name: string) => inv.serviceAccounts.find((s) => s.metadata?.namespace === ns && s.metadata?.name === name);
  const needsNew = all.filter((r) => isWorkloadKind(r.c.kind) && r.c.kind !== "Job" && !r.c.record && templateServiceAccount(r.c.template) === "default");
  for (const r of resolved) {
    const { c, plan } = r;
    if (!isWorkloadKind(c.kind) || c.kind === "Job" || !r.identities.length) continue;
    const current = templateServiceAccount(c.template);
    const clientId = clientIdOf(r.identities[0]);
    if (c.record) {
      plan.serviceAccount = { current, target: c.record.serviceAccount.after, create: !saOf(c.namespace, c.record.serviceAccount.after) };
      const sharing = (users.get(`${c.namespace}/${c.record.serviceAccount.after}`) ?? []).filter((u) => u.ref !== plan.ref && u.identities !== idsOf(r.identities));
      if (sharing.length) warnings.push(`ServiceAccount ${c.namespace}/${c.record.serviceAccount.after} of ${plan.ref} is now also used by ${sharing.map((u) => u.ref).join(", ")}: they can use its identities through workload identity too`);
      continue;
    }
    let target = current;
    if (current === "default") {
      const clash = needsNew.some((o) => o !== r && o.c.namespace === c.namespace && o.c.name === c.name);
      target = clash ? `${c.name}-${c.kind.toLowerCase()}`.slice(0, 253) : c.name;
      const existing = saOf(c.namespace, target);
      const others = (users.get(`${c.namespace}/${target}`) ?? []).filter((u) => u.ref !== plan.ref);
      const record = serviceAccountRecordOf(existing);
      if (existing && others.length && !(record?.created && others.every((u) => u.identities === idsOf(r.identities)))) {
        plan.blockers.push({ code: BlockerCode.ServiceAccountTaken, message: `${plan.ref} runs as ${c.namespace}/default, and the ServiceAccount podid would give it, ${c.namespace}/${target}, is used by ${others.map((u) => u.ref).join(", ")}`, remedy: `Create a ServiceAccount for it and set spec.template.spec.serviceAccountName, then run the plan again.` });
        continue;
      }
      plan.serviceAccount = { current, target, create: !existing };
      if (!existing) warnings.push(`${plan.ref} in ${c.namespace} runs as ServiceAccount default: it gets a new ServiceAccount ${target} (with default's imagePullSecrets; RoleBindings that name default do not apply to it)`);
    } else {
      const sa = saOf(c.namespace, current);
      if (!sa) {
        plan.blockers.push({ code: BlockerCode.ServiceAccountMissing, message: `${plan.ref} in ${c.namespace} runs as ServiceAccount ${current}, which does not exist`, remedy: `kubectl create serviceaccount ${current} -n ${c.namespace}` });
        continue;
      }
      const others = (users.get(`${c.namespace}/${current}`) ?? []).filter((u) => u.ref !== plan.ref && u.identities !== idsOf(r.identities));
      if (others.length) {
        plan.blockers.push({
          code: BlockerCode.SharedServiceAccount,
          message: `ServiceAccount ${c.namespace}/${current} of ${plan.ref} is also used by ${others.map((u) => `${u.ref} (${u.identities ? "other identities" : "no pod identity"})`).join(", ")}: federating it would let their pods use ${plan.identities.join(", ")} too`,
          remedy: `Give ${plan.ref} a ServiceAccount of its own (kubectl create serviceaccount ${c.name} -n ${c.namespace}; set spec.template.spec.serviceAccountName), then run the plan again.`,
        });
        continue;
      }
    }
    const annotated = saOf(c.namespace, target)?.metadata?.annotations?.[CLIENT_ID_ANNOTATION];
    if (annotated && annotated !== clientId) {
      plan.blockers.push({ code: BlockerCode.ServiceAccountAnnotated, message: `ServiceAccount ${c.namespace}/${target} is already annotated ${CLIENT_ID_ANNOTATION}=${annotated}, not ${plan.identities[0]}'s client id ${clientId}`, remedy: `Give ${plan.ref} another ServiceAccount, or remove the annotation if nothing uses it.` });
      plan.serviceAccount = null;
      continue;
    }
    plan.serviceAccount ??= { current, target, create: false };
  }
}

function serviceAccountPlans(resolved: Resolved[], inv: Inventory): ServiceAccountPlan[] {
  const out = new Map<string, ServiceAccountPlan>();
  for (const r of resolved) {
    const sa = r.plan.serviceAccount;
    if (!sa || !r.plan.migratable) continue;
    const k = `${r.c.namespace}/${sa.target}`;
    const existing = inv.serviceAccounts.find((s) => s.metadata?.namespace === r.c.namespace && s.metadata?.name === sa.target);
    const clientId = r.plan.serviceAccountAnnotations[CLIENT_ID_ANNOTATION];
    const plan = out.get(k) ?? {
      namespace: r.c.namespace,
      name: sa.target,
      action: !existing ? "create" : existing.metadata?.annotations?.[CLIENT_ID_ANNOTATION] === clientId ? "none" : "annotate",
      clientId,
      annotations: { [CLIENT_ID_ANNOTATION]: clientId },
      workloads: [],
    };
    plan.workloads.push(r.plan.ref);
    out.set(k, plan);
  }
  return [...out.values()];
}
