import type { V1Pod } from "@kubernetes/client-node";
import { BEHAVIOR_ANNOTATION, type AzureIdentity, type AzurePodIdentityException } from "../../kube/aadpodidentity.js";
import type { AzureAssignedIdentity } from "../../kube/aadpodidentity.js";

/** Pure decisions of NMI over cache snapshots: who is calling, is it excepted, which identity it may use. */

/** What the caller asked for; object_id is resolved to a client id before selection (see server.ts). */
export interface IdentityRequest {
  clientId?: string;
  resourceId?: string;
}

export interface PodRef {
  namespace: string;
  name: string;
}

/** The pods that may own a source address: status.podIP equal, phase Pending/Running (or not yet set). */
export function podsWithIp(pods: readonly V1Pod[], ip: string): V1Pod[] {
  return pods.filter((p) => p.status?.podIP === ip && (p.status?.phase === undefined || p.status.phase === "Pending" || p.status.phase === "Running"));
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

/** Upstream's MIC short-circuit: MIC's own pods (ReplicaSet named mic*) in --MICNamespace use the node identity. */
export function isMicPod(pod: V1Pod, micNamespace: string): boolean {
  if ((pod.metadata?.namespace ?? "").toLowerCase() !== micNamespace.toLowerCase()) return false;
  return (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === "ReplicaSet" && o.name.startsWith("mic"));
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
 * Which identity a pod gets for a request, from the AzureAssignedIdentities of this node. Only `Assigned`
 * counts (legacy empty status too, as upstream); `Unassigned` never. Namespaced mode (flag or the identity's
 * Behavior annotation) drops identities of another namespace. Several matches: the first by namespace/name,
 * so the answer is deterministic (upstream takes the cache's order, documented as "random").
 */
export function selectIdentity(assigned: readonly AzureAssignedIdentity[], pod: PodRef, request: IdentityRequest, forceNamespaced: boolean): Selection {
  const mine = assigned.filter((a) => a.spec?.pod === pod.name && a.spec?.podNamespace === pod.namespace && a.spec.azureIdentityRef && identityMatches(a.spec.azureIdentityRef, request));
  const state = (a: AzureAssignedIdentity) => a.status?.status ?? "";
  const usable = mine.filter((a) => state(a) === "Assigned" || state(a) === "").map((a) => a.spec.azureIdentityRef!);
  if (usable.length === 0) return { kind: "pending", hasCreated: mine.some((a) => state(a) === "Created") };
  const allowed = usable.filter((i) => !isNamespaced(i, forceNamespaced) || i.metadata.namespace === pod.namespace).sort((a, b) => identityKey(a).localeCompare(identityKey(b)));
  if (allowed.length === 0) {
    return { kind: "excluded", message: `pod:${pod.namespace}/${pod.name} has only namespaced identities of other namespaces (${usable.map(identityKey).join(", ")})` };
  }
  return { kind: "found", identity: allowed[0] };
}

/** Upstream's redaction of client ids in messages: first 4 and last 4 characters. */
export function redactClientId(clientId: string): string {
  return clientId.length <= 8 ? "#####" : `${clientId.slice(0, 4)}##### REDACTED #####${clientId.slice(-4)}`;
}
