import type { V1Deployment, V1ObjectMeta, V1OwnerReference, V1Pod, V1ReplicaSet } from "@kubernetes/client-node";
import { BEHAVIOR_ANNOTATION, MIC_DEPLOYMENT_NAME, type AzureIdentity, type AzurePodIdentityException } from "../../kube/aadpodidentity.js";
import type { AzureAssignedIdentity } from "../../kube/aadpodidentity.js";
import { identitySpec } from "../mic/desired.js";

/** Pure decisions of NMI over cache snapshots: who is calling, is it excepted, which identity it may use. */

/** What the caller asked for; object_id is resolved to a client id before selection (see server.ts). */
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

/**
 * Whether a pod may still hold its address: not being deleted and not finished. A terminating or finished pod's
 * address may already be another pod's (CNI plugins hand addresses out again at once).
 */
export function holdsAddress(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";
}

/** The pods that may own a source address: status.podIP equal, and still holding it. */
export function podsWithIp(pods: readonly V1Pod[], ip: string): V1Pod[] {
  return pods.filter((p) => p.status?.podIP === ip && holdsAddress(p));
}

/** Upstream: excepted when any one key of podLabels is on the pod with the same value (value case-insensitive). */
export function isExceptionPod(pod: V1Pod, exceptions: readonly AzurePodIdentityException[]): boolean {
  const labels = pod.metadata?.labels ?? {};
  return exceptions.some(
    (e) =>
      e.metadata.namespace === pod.metadata?.namespace &&
      Object.entries(e.spec?.podLabels ?? {}).some(([k, v]) => labels[k] !== undefined && labels[k].toLowerCase() === String(v).toLowerCase()),
  );
}

const controllerOf = (meta: V1ObjectMeta | undefined): V1OwnerReference | undefined => meta?.ownerReferences?.find((o) => o.controller === true);

/**
 * MIC's own pods, which keep the node's identity: pods of --MICNamespace whose controller is a ReplicaSet (known to
 * the cache by name and uid) whose controller is the Deployment podid installs MIC as — that Deployment itself,
 * by uid, and one whose selector the ReplicaSet's labels match (as the Deployment controller adopts only those).
 * No name prefix counts (upstream passes any ReplicaSet named mic* in that namespace): a workload named like MIC is
 * a workload, and a ReplicaSet claiming a made-up or foreign owner is no MIC's.
 */
export function isMicPod(pod: V1Pod, replicaSets: readonly V1ReplicaSet[], deployments: readonly V1Deployment[], micNamespace: string): boolean {
  const namespace = pod.metadata?.namespace;
  if (!namespace || namespace !== micNamespace) return false;
  const owner = controllerOf(pod.metadata);
  if (owner?.kind !== "ReplicaSet" || owner.apiVersion !== "apps/v1") return false;
  const rs = replicaSets.find((r) => r.metadata?.namespace === namespace && r.metadata?.name === owner.name && r.metadata?.uid === owner.uid);
  const ref = controllerOf(rs?.metadata);
  if (ref?.kind !== "Deployment" || ref.apiVersion !== "apps/v1" || ref.name !== MIC_DEPLOYMENT_NAME) return false;
  const deployment = deployments.find((d) => d.metadata?.namespace === namespace && d.metadata?.name === ref.name && d.metadata?.uid === ref.uid);
  const wanted = Object.entries(deployment?.spec?.selector?.matchLabels ?? {});
  return Boolean(deployment) && wanted.length > 0 && wanted.every(([k, v]) => rs?.metadata?.labels?.[k] === v);
}

const same = (a: string | undefined, b: string | undefined) => a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

export function identityMatches(identity: AzureIdentity, request: IdentityRequest): boolean {
  if (request.clientId) return same(identity.spec?.clientID, request.clientId);
  if (request.resourceId) return same(identity.spec?.resourceID, request.resourceId);
  return true;
}

function isNamespaced(identity: AzureIdentity, forceNamespaced: boolean): boolean {
  return forceNamespaced || (identity.metadata.annotations?.[BEHAVIOR_ANNOTATION] ?? "").toLowerCase() === "namespaced";
}

export type Selection =
  | { kind: "found"; identity: AzureIdentity }
  /** Nothing usable yet: keep waiting (or fail with `reason` once the wait is over). */
  | { kind: "pending"; hasCreated: boolean }
  /** Assigned identities match the request, but namespaced rules exclude them all: final. */
  | { kind: "excluded"; message: string };

const identityKey = (i: AzureIdentity) => `${i.metadata.namespace ?? ""}/${i.metadata.name}`;
/**
 * An assignment is this pod's while it names the pod and the pod still carries the label its binding selects: a
 * pod that lost the label, or a new pod reusing a deleted one's name, gets nothing MIC has not yet removed.
 */
const isAssignmentOf = (a: AzureAssignedIdentity, pod: PodRef) =>
  a.spec?.pod === pod.name &&
  a.spec?.podNamespace === pod.namespace &&
  Boolean(a.spec.azureIdentityRef) &&
  (pod.bindingLabel === undefined || (Boolean(pod.bindingLabel) && a.spec.azureBindingRef?.spec?.selector === pod.bindingLabel));
/** Only `Assigned` counts (legacy empty status too, as upstream); `Created` and `Unassigned` never. */
const isUsable = (a: AzureAssignedIdentity) => (a.status?.status ?? "") === "Assigned" || (a.status?.status ?? "") === "";
const allowedFor = (i: AzureIdentity, pod: PodRef, forceNamespaced: boolean) => !isNamespaced(i, forceNamespaced) || i.metadata.namespace === pod.namespace;

/**
 * Which identity a pod gets for a request, from the AzureAssignedIdentities of this node. Only `Assigned`
 * counts (legacy empty status too, as upstream); `Unassigned` never. Namespaced mode (flag or the identity's
 * Behavior annotation) drops identities of another namespace. Several matches: the first by namespace/name,
 * so the answer is deterministic (upstream takes the cache's order, documented as "random").
 */
export function selectIdentity(assigned: readonly AzureAssignedIdentity[], pod: PodRef, request: IdentityRequest, forceNamespaced: boolean): Selection {
  const mine = assigned.filter((a) => isAssignmentOf(a, pod) && identityMatches(a.spec.azureIdentityRef, request));
  const usable = mine.filter(isUsable).map((a) => a.spec.azureIdentityRef);
  if (usable.length === 0) return { kind: "pending", hasCreated: mine.some((a) => a.status?.status === "Created") };
  const allowed = usable.filter((i) => allowedFor(i, pod, forceNamespaced)).sort((a, b) => identityKey(a).localeCompare(identityKey(b)));
  if (allowed.length === 0) {
    return { kind: "excluded", message: `pod:${pod.namespace}/${pod.name} has only namespaced identities of other namespaces (${usable.map(identityKey).join(", ")})` };
  }
  return { kind: "found", identity: allowed[0] };
}

/** Every identity a pod may use now (what selectIdentity chooses among), first by namespace/name. */
export function podIdentities(assigned: readonly AzureAssignedIdentity[], pod: PodRef, forceNamespaced: boolean): AzureIdentity[] {
  return assigned
    .filter((a) => isAssignmentOf(a, pod) && isUsable(a))
    .map((a) => a.spec.azureIdentityRef)
    .filter((i) => allowedFor(i, pod, forceNamespaced))
    .sort((a, b) => identityKey(a).localeCompare(identityKey(b)));
}

/** True while an identity is on its way to the pod (MIC created the assignment, Azure has not confirmed it). */
export function hasCreatedAssignment(assigned: readonly AzureAssignedIdentity[], pod: PodRef): boolean {
  return assigned.some((a) => isAssignmentOf(a, pod) && a.status?.status === "Created");
}

/** Upstream's redaction of client ids in messages: first 4 and last 4 characters. */
export function redactClientId(clientId: string): string {
  return clientId.length <= 8 ? "#####" : `${clientId.slice(0, 4)}##### REDACTED #####${clientId.slice(-4)}`;
}

/** The identities a request names: client ids, and resource ids (msi_res_id, mi_res_id). Object ids cannot be told from the request. */
export interface NamedIdentities {
  clientIds: string[];
  resourceIds: string[];
}

/**
 * Upstream NMI's MIC shortcut (aad-pod-identity 1.8): any pod of --MICNamespace owned by a ReplicaSet whose name
 * starts with "mic". podid's NMI never applies it (see isMicPod); doctor uses it to model an upstream NMI.
 */
export function upstreamMicShortcut(pod: V1Pod, micNamespace: string): boolean {
  if ((pod.metadata?.namespace ?? "").toLowerCase() !== micNamespace.toLowerCase()) return false;
  return (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === "ReplicaSet" && o.name.startsWith("mic"));
}

const key = (v: string) => v.trim().toLowerCase();

/**
 * The exception fence: the AzureIdentity (any in the cluster) whose identity a request from an exempt pod names,
 * unless that identity is one the pod has assigned (Assigned, allowed by namespaced rules). Ids compare
 * case-insensitively and without surrounding blanks, as IMDS may.
 */
export function fencedIdentity(named: NamedIdentities, identities: readonly AzureIdentity[], assigned: readonly AzureAssignedIdentity[], pod: PodRef, forceNamespaced: boolean): AzureIdentity | undefined {
  const clientIds = new Set(named.clientIds.map(key));
  const resourceIds = new Set(named.resourceIds.map(key));
  for (const identity of identities) {
    const spec = identitySpec(identity);
    const byClient = spec.clientID !== "" && clientIds.has(key(spec.clientID));
    const byResource = spec.resourceID !== "" && resourceIds.has(key(spec.resourceID));
    if (!byClient && !byResource) continue;
    if (spec.clientID && selectIdentity(assigned, pod, { clientId: spec.clientID }, forceNamespaced).kind === "found") continue;
    return identity;
  }
  return undefined;
}
