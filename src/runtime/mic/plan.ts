import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { DesiredState, NeededIdentity } from "../../aadpodidentity/desired.js";
import { identitySpec } from "../../aadpodidentity/spec.js";
import {
  ASSIGNED_IDENTITY_FINALIZER,
  IdentityType,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
} from "../../aadpodidentity/types.js";
import type { ComputeFailure } from "../../azure/errors.js";
import type { ComputeIdentityState, ComputeTarget } from "../../azure/scale-sets.js";

/**
 * MIC's planner: pure functions from what the caches and ARM hold to what one cycle writes. No I/O, no clock.
 * A cycle plans the Kubernetes side first (planAssignments, byTarget), reads each scale set and asks ARM about
 * client ids that disagree, plans the ARM side (planTarget), applies it, and settles the statuses (settle).
 */

/** What one sync cycle reads: snapshots of the informer caches. */
export interface Snapshot {
  pods: readonly V1Pod[];
  identities: readonly AzureIdentity[];
  bindings: readonly AzureIdentityBinding[];
  nodes: readonly V1Node[];
  assigned: readonly AzureAssignedIdentity[];
}

export const assignmentKey = (a: AzureAssignedIdentity): string => `${a.metadata.namespace ?? "default"}/${a.metadata.name}`;

/** Same assignment: upstream's match (identity and binding by resourceVersion, pod, node). */
export function sameAssignment(a: AzureAssignedIdentity, b: AzureAssignedIdentity): boolean {
  return (
    a.spec.azureIdentityRef?.metadata?.name === b.spec.azureIdentityRef?.metadata?.name &&
    a.spec.azureIdentityRef?.metadata?.resourceVersion === b.spec.azureIdentityRef?.metadata?.resourceVersion &&
    a.spec.azureBindingRef?.metadata?.name === b.spec.azureBindingRef?.metadata?.name &&
    a.spec.azureBindingRef?.metadata?.resourceVersion === b.spec.azureBindingRef?.metadata?.resourceVersion &&
    a.spec.pod === b.spec.pod &&
    a.spec.podNamespace === b.spec.podNamespace &&
    a.spec.nodename === b.spec.nodename
  );
}

/** The user-assigned identity an AzureAssignedIdentity refers to (lower-cased id), or undefined for service principals. */
export function userAssignedIdOf(aai: AzureAssignedIdentity): string | undefined {
  const ref = aai.spec.azureIdentityRef;
  if (!ref?.spec) return undefined;
  const { type, resourceID } = identitySpec(ref);
  return type === IdentityType.userAssignedMSI && resourceID ? resourceID.toLowerCase() : undefined;
}

/** The Kubernetes side of a cycle: desired against current AzureAssignedIdentities. */
export interface AssignmentPlan {
  /** New: written as Created before any ARM call. */
  create: AzureAssignedIdentity[];
  /** Changed (identity, binding or node): `after` keeps `before`'s metadata, status Created again. */
  replace: { before: AzureAssignedIdentity; after: AzureAssignedIdentity }[];
  /** Unchanged but not Assigned yet. */
  unassigned: AzureAssignedIdentity[];
  /** Current ones no longer wanted. */
  leaving: AzureAssignedIdentity[];
}

export function planAssignments(current: readonly AzureAssignedIdentity[], wanted: readonly AzureAssignedIdentity[]): AssignmentPlan {
  const have = new Map(current.map((a) => [assignmentKey(a), a]));
  const want = new Set(wanted.map(assignmentKey));
  const plan: AssignmentPlan = { create: [], replace: [], unassigned: [], leaving: current.filter((a) => !want.has(assignmentKey(a))) };
  for (const w of wanted) {
    const before = have.get(assignmentKey(w));
    if (!before) plan.create.push(w);
    else if (!sameAssignment(before, w)) {
      const labels = { ...before.metadata.labels, ...w.metadata.labels };
      const finalizers = [...new Set([...((before.metadata.finalizers as string[] | undefined) ?? []), ASSIGNED_IDENTITY_FINALIZER])];
      plan.replace.push({ before, after: { ...w, metadata: { ...before.metadata, labels, finalizers }, status: { ...before.status, status: "Created", availableReplicas: 1 } } });
    } else if (before.status?.status !== "Assigned") plan.unassigned.push(before);
  }
  return plan;
}

/** One scale set's (or VM's) share of a cycle. */
export interface TargetWork {
  target: ComputeTarget;
  needed: ReadonlyMap<string, NeededIdentity>;
  /** AzureAssignedIdentities on this target to turn Assigned once their identity is attached. */
  toAssign: AzureAssignedIdentity[];
  /** Current AzureAssignedIdentities on this target that go away (deleted, or moved elsewhere): removal candidates. */
  leaving: AzureAssignedIdentity[];
  /** Of `leaving`, those to delete once their identity is detached. */
  toDelete: AzureAssignedIdentity[];
}

/** Work that needs no ARM call: service principals, and assignments on nodes with no known scale set. */
export interface DirectWork {
  setAssigned: AzureAssignedIdentity[];
  remove: AzureAssignedIdentity[];
}

/**
 * Groups a plan by scale set / VM. `knownTargets` are every node's target seen so far, so that the identities of a
 * node deleted from the cluster are detached, not leaked.
 */
export function byTarget(plan: AssignmentPlan, state: DesiredState, knownTargets: ReadonlyMap<string, ComputeTarget>): { targets: TargetWork[]; direct: DirectWork } {
  const work = new Map<string, TargetWork>();
  const workFor = (target: ComputeTarget) => {
    let w = work.get(target.id);
    if (!w) work.set(target.id, (w = { target, needed: state.targets.get(target.id)?.identities ?? new Map(), toAssign: [], leaving: [], toDelete: [] }));
    return w;
  };
  for (const t of state.targets.values()) workFor(t.target);
  const direct: DirectWork = { setAssigned: [], remove: [] };
  for (const aai of [...plan.create, ...plan.replace.map((r) => r.after), ...plan.unassigned]) {
    const target = state.nodeTargets.get(aai.spec.nodename);
    if (userAssignedIdOf(aai) && target) workFor(target).toAssign.push(aai);
    else direct.setAssigned.push(aai);
  }
  const candidates = [...plan.leaving.map((aai) => ({ aai, leaving: true })), ...plan.replace.map((r) => ({ aai: r.before, leaving: false }))];
  for (const { aai, leaving } of candidates) {
    const target = state.nodeTargets.get(aai.spec.nodename) ?? knownTargets.get(aai.spec.nodename);
    if (userAssignedIdOf(aai) && target) {
      const w = workFor(target);
      w.leaving.push(aai);
      if (leaving) w.toDelete.push(aai);
    } else if (leaving) {
      // A service principal, or a node never seen: nothing to detach (upstream deletes without ARM).
      direct.remove.push(aai);
    }
  }
  return { targets: [...work.values()], direct };
}

/** Needed identities the target holds under another client id than their AzureIdentity says: perhaps re-created. */
export function clientIdMismatches(work: TargetWork, state: ComputeIdentityState): { need: NeededIdentity; attachedClientId: string }[] {
  const out: { need: NeededIdentity; attachedClientId: string }[] = [];
  for (const [id, need] of work.needed) {
    const attachedClientId = state.identities.get(id)?.clientId;
    if (need.clientId && attachedClientId && need.clientId.toLowerCase() !== attachedClientId.toLowerCase()) out.push({ need, attachedClientId });
  }
  return out;
}

/**
 * The identities on a target that no AzureAssignedIdentity explains: the first time any MIC sees the target, they
 * were there before MIC and are never detached.
 */
export function unexplainedIdentities(state: ComputeIdentityState, allAssigned: readonly AzureAssignedIdentity[]): string[] {
  const explained = new Set(allAssigned.map(userAssignedIdOf).filter((id): id is string => Boolean(id)));
  return [...state.identities.keys()].filter((id) => !explained.has(id));
}

/** What never leaves a target: identities there before MIC, and those whose client id is immutable. */
export interface Protected {
  preexisting: ReadonlySet<string>;
  /** Lower-cased client ids. */
  immutableClientIds: ReadonlySet<string>;
}

/** The ARM side for one target: resource ids to attach, to detach, and to detach and attach again. */
export interface TargetPlan {
  add: string[];
  remove: string[];
  /** Re-created identities (same resource id, new client id): the stale entry is detached, then attached anew. */
  reattach: string[];
}

/** `stale`: the lower-cased ids ARM says were re-created (see clientIdMismatches). */
export function planTarget(work: TargetWork, state: ComputeIdentityState, protect: Protected, stale: ReadonlySet<string>): TargetPlan {
  const isProtected = (id: string, clientIds: (string | undefined)[]) => protect.preexisting.has(id) || clientIds.some((c) => c !== undefined && protect.immutableClientIds.has(c.toLowerCase()));
  const remove = new Set<string>();
  for (const aai of work.leaving) {
    const id = userAssignedIdOf(aai)!;
    if (work.needed.has(id) || !state.identities.has(id)) continue;
    if (isProtected(id, [state.identities.get(id)?.clientId, identitySpec(aai.spec.azureIdentityRef).clientID])) continue;
    remove.add(id);
  }
  const plan: TargetPlan = { add: [], remove: [...remove].map((id) => state.identities.get(id)!.resourceId), reattach: [] };
  for (const [id, need] of work.needed) {
    if (!state.identities.has(id)) plan.add.push(need.resourceId);
    else if (stale.has(id)) plan.reattach.push(need.resourceId);
  }
  return plan;
}

export const hasChanges = (plan: TargetPlan): boolean => plan.add.length + plan.remove.length + plan.reattach.length > 0;

/**
 * The identity updates a plan takes: one, or two when identities are re-attached (the stale entries and the
 * removals detached first, then everything attached).
 */
export function identityUpdates(plan: TargetPlan): { add: string[]; remove: string[] }[] {
  if (!plan.reattach.length) return [{ add: plan.add, remove: plan.remove }];
  return [
    { add: [], remove: [...plan.remove, ...plan.reattach] },
    { add: [...plan.add, ...plan.reattach], remove: [] },
  ];
}

/** Why an identity could not be attached or detached. */
export interface Failure {
  failure: ComputeFailure;
  message: string;
}

/** After ARM: which assignments turn Assigned, which stay and why, which are deleted, which wait for their detach. */
export interface Settlement {
  assigned: AzureAssignedIdentity[];
  notAssigned: { aai: AzureAssignedIdentity; why: Failure }[];
  remove: AzureAssignedIdentity[];
  notRemoved: { aai: AzureAssignedIdentity; why: Failure }[];
}

/** Statuses follow what the target now holds: one refused identity never holds the others back. */
export function settle(work: TargetWork, plan: TargetPlan, state: ComputeIdentityState, failures: ReadonlyMap<string, Failure>): Settlement {
  const out: Settlement = { assigned: [], notAssigned: [], remove: [], notRemoved: [] };
  for (const aai of work.toAssign) {
    const id = userAssignedIdOf(aai)!;
    if (state.identities.has(id) && !failures.has(id)) out.assigned.push(aai);
    else out.notAssigned.push({ aai, why: failures.get(id) ?? { failure: "other", message: `identity ${id} is not attached to ${work.target.name}` } });
  }
  const removing = new Set(plan.remove.map((id) => id.toLowerCase()));
  for (const aai of work.toDelete) {
    const id = userAssignedIdOf(aai)!;
    if (removing.has(id) && state.identities.has(id)) out.notRemoved.push({ aai, why: failures.get(id) ?? { failure: "other", message: "still attached" } });
    else out.remove.push(aai);
  }
  return out;
}
