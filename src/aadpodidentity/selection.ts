import { identityReaches } from "./matching.js";
import { bindingSpec, identitySpec } from "./spec.js";
import { objectKey, type AzureAssignedIdentity, type AzureIdentity } from "./types.js";

/** Which identity a calling pod gets, from the AzureAssignedIdentities of its node (NMI's decision, pure). */

/** What the caller asked for; object_id is resolved to a client id before selection (NMI's server). */
export interface IdentityRequest {
  clientId?: string;
  resourceId?: string;
}

export interface PodRef {
  namespace: string;
  name: string;
  /**
   * The pod's aadpodidbinding label as NMI sees it now ("" when it has none), or undefined when NMI does not know
   * the pod (the host route): an assignment counts only while the pod still carries its binding's selector.
   */
  bindingLabel?: string;
}

/** Ids compare case-insensitively and without surrounding blanks, as IMDS may. */
const idKey = (v: string) => v.trim().toLowerCase();
const same = (a: string, b: string | undefined) => a !== "" && b !== undefined && idKey(a) === idKey(b);

export function identityMatches(identity: AzureIdentity, request: IdentityRequest): boolean {
  const spec = identitySpec(identity);
  if (request.clientId) return same(spec.clientID, request.clientId);
  if (request.resourceId) return same(spec.resourceID, request.resourceId);
  return true;
}

export type Selection =
  | { kind: "found"; identity: AzureIdentity }
  /** Nothing usable yet: keep waiting (or fail with `reason` once the wait is over). */
  | { kind: "pending"; hasCreated: boolean }
  /** Assigned identities match the request, but namespaced rules exclude them all: final. */
  | { kind: "excluded"; message: string };

/**
 * An assignment is this pod's while it names the pod and the pod still carries the label its binding selects: a
 * pod that lost the label, or a new pod reusing a deleted one's name, gets nothing MIC has not yet removed.
 */
const isAssignmentOf = (a: AzureAssignedIdentity, pod: PodRef) =>
  a.spec?.pod === pod.name &&
  a.spec?.podNamespace === pod.namespace &&
  Boolean(a.spec.azureIdentityRef) &&
  (pod.bindingLabel === undefined || (Boolean(pod.bindingLabel) && (a.spec.azureBindingRef ? bindingSpec(a.spec.azureBindingRef).selector : undefined) === pod.bindingLabel));
/** Only `Assigned` counts (legacy empty status too, as upstream); `Created` and `Unassigned` never. */
const isUsable = (a: AzureAssignedIdentity) => (a.status?.status ?? "") === "Assigned" || (a.status?.status ?? "") === "";
const byKey = (a: AzureIdentity, b: AzureIdentity) => objectKey(a).localeCompare(objectKey(b));

/**
 * Which identity a pod gets for a request. Only `Assigned` counts (legacy empty status too, as upstream);
 * `Unassigned` never. Namespaced mode (flag or the identity's Behavior annotation) drops identities of another
 * namespace. Several matches: the first by namespace/name, so the answer is deterministic (upstream takes the
 * cache's order, documented as "random").
 */
export function selectIdentity(assigned: readonly AzureAssignedIdentity[], pod: PodRef, request: IdentityRequest, forceNamespaced: boolean): Selection {
  const mine = assigned.filter((a) => isAssignmentOf(a, pod) && identityMatches(a.spec.azureIdentityRef, request));
  const usable = mine.filter(isUsable).map((a) => a.spec.azureIdentityRef);
  if (usable.length === 0) return { kind: "pending", hasCreated: mine.some((a) => a.status?.status === "Created") };
  const allowed = usable.filter((i) => identityReaches(i, pod.namespace, forceNamespaced)).sort(byKey);
  if (allowed.length === 0) {
    return { kind: "excluded", message: `pod:${pod.namespace}/${pod.name} has only namespaced identities of other namespaces (${usable.map(objectKey).join(", ")})` };
  }
  return { kind: "found", identity: allowed[0] };
}

/** Every identity a pod may use now (what selectIdentity chooses among), first by namespace/name. */
export function podIdentities(assigned: readonly AzureAssignedIdentity[], pod: PodRef, forceNamespaced: boolean): AzureIdentity[] {
  return assigned
    .filter((a) => isAssignmentOf(a, pod) && isUsable(a))
    .map((a) => a.spec.azureIdentityRef)
    .filter((i) => identityReaches(i, pod.namespace, forceNamespaced))
    .sort(byKey);
}

/** True while an identity is on its way to the pod (MIC created the assignment, Azure has not confirmed it). */
export function hasCreatedAssignment(assigned: readonly AzureAssignedIdentity[], pod: PodRef): boolean {
  return assigned.some((a) => isAssignmentOf(a, pod) && a.status?.status === "Created");
}

/** The identities a request names: client ids, and resource ids (msi_res_id, mi_res_id). Object ids cannot be told from the request. */
export interface NamedIdentities {
  clientIds: string[];
  resourceIds: string[];
}

/**
 * The exception fence: the AzureIdentity (any in the cluster) whose identity a request from an exempt pod names,
 * unless that identity is one the pod has assigned (Assigned, allowed by namespaced rules).
 */
export function fencedIdentity(named: NamedIdentities, identities: readonly AzureIdentity[], assigned: readonly AzureAssignedIdentity[], pod: PodRef, forceNamespaced: boolean): AzureIdentity | undefined {
  const clientIds = new Set(named.clientIds.map(idKey));
  const resourceIds = new Set(named.resourceIds.map(idKey));
  for (const identity of identities) {
    const spec = identitySpec(identity);
    const byClient = spec.clientID !== "" && clientIds.has(idKey(spec.clientID));
    const byResource = spec.resourceID !== "" && resourceIds.has(idKey(spec.resourceID));
    if (!byClient && !byResource) continue;
    if (spec.clientID && selectIdentity(assigned, pod, { clientId: spec.clientID }, forceNamespaced).kind === "found") continue;
    return identity;
  }
  return undefined;
}
