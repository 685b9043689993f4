import { setTimeout as sleep } from "node:timers/promises";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { refusedIdentityIds } from "../../azure/errors.js";
import { IdentityService } from "../../azure/identities.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../azure/resource-id.js";
import { ComputeIdentities, type ComputeIdentityState, type ComputeTarget } from "../../azure/scale-sets.js";
import type { AzureSession } from "../../azure/session.js";
import {
  ASSIGNED_IDENTITY_FINALIZER,
  IdentityType,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
} from "../../kube/aadpodidentity.js";
import { AssignedIdentityWriter } from "../../kube/assigned-identities.js";
import type { LeaderTerm } from "../../kube/lease.js";
import type { KubeSession } from "../../kube/session.js";
import { isCancellation } from "../../util/cancel.js";
import { mapConcurrent } from "../../util/concurrency.js";
import type { Logger } from "../../util/logger.js";
import { desired, identitySpec, type NeededIdentity } from "./desired.js";
import type { MicMetrics } from "./metrics.js";

/** What one sync cycle reads: snapshots of the informer caches. */
export interface Snapshot {
  pods: readonly V1Pod[];
  identities: readonly AzureIdentity[];
  bindings: readonly AzureIdentityBinding[];
  nodes: readonly V1Node[];
  assigned: readonly AzureAssignedIdentity[];
}

export interface ReconcileOptions {
  forceNamespaced: boolean;
  /** Client ids never detached (--immutable-user-msis, plus the cluster identity from the cloud config). */
  immutableClientIds: readonly string[];
  /** Retries of a PATCH after dropping the identities ARM refused (--update-user-msi-max-retry). */
  updateUserMsiMaxRetry: number;
  updateUserMsiRetryIntervalMs: number;
  /** Budget for retrying throttling and 5xx on one ARM call. */
  armRetryBudgetMs: number;
}

/** Where the record of identities present before MIC is kept, so a new leader inherits it (default: memory only). */
export interface PreexistingStore {
  /** The recorded ids (lower-cased) per target id; targets never recorded are absent. */
  load(): Promise<Record<string, string[]>>;
  save(targetId: string, ids: string[]): Promise<void>;
}

export interface CycleResult {
  /** Something was written (Kubernetes or ARM). */
  workDone: boolean;
  /** Something is left to do (an assignment or removal failed): run again soon. */
  pending: boolean;
}

/** Kubernetes writes in flight at once (upstream's --createDeleteBatch default). */
const KUBE_WRITE_CONCURRENCY = 20;

/** For a Reconciler driven without leader election (tests, one-off runs): a term that never ends. */
export const UNFENCED: LeaderTerm = { signal: new AbortController().signal, check: () => undefined };

const keyOf = (a: AzureAssignedIdentity) => `${a.metadata.namespace ?? "default"}/${a.metadata.name}`;
const message = (err: unknown) => (err instanceof Error ? err.message.split("\n")[0] : String(err));

/** Same assignment: upstream's match (identity and binding by resourceVersion, pod, node). */
function sameAssignment(a: AzureAssignedIdentity, b: AzureAssignedIdentity): boolean {
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

/** A user-assigned identity an AzureAssignedIdentity refers to (lower-cased id), or undefined for service principals. */
function userAssignedIdOf(aai: AzureAssignedIdentity): string | undefined {
  const ref = aai.spec.azureIdentityRef;
  if (!ref?.spec) return undefined;
  const { type, resourceID } = identitySpec(ref);
  return type === IdentityType.userAssignedMSI && resourceID ? resourceID.toLowerCase() : undefined;
}

interface TargetWork {
  target: ComputeTarget;
  needed: Map<string, NeededIdentity>;
  /** AzureAssignedIdentities (desired) on this target, new, changed or not yet Assigned. */
  toAssign: AzureAssignedIdentity[];
  /** Current AzureAssignedIdentities on this target that go away (deleted, or moved elsewhere). */
  leaving: AzureAssignedIdentity[];
  /** Of `leaving`, those to delete once their identity is detached. */
  toDelete: AzureAssignedIdentity[];
}

/**
 * The effect layer: applies the difference between the desired state and what the cluster and ARM hold.
 * One identity PATCH per scale set per cycle (split at ARM's 150 limit, and in two when a re-created
 * identity must be detached and attached again); scale sets in parallel.
 */
export class Reconciler {
  private readonly writer: AssignedIdentityWriter;
  private readonly compute: ComputeIdentities;
  private readonly identities: IdentityService;
  /** Per target: identities that were there before MIC first saw it and that no assignment explains. Never detached. */
  private readonly preexisting = new Map<string, Set<string>>();
  /** Last reason reported per AzureAssignedIdentity / skipped object, so repeats are not re-logged every cycle. */
  private readonly reported = new Map<string, string>();
  private readonly immutable: Set<string>;
  /** Every node's scale set or VM seen so far, including nodes since deleted. */
  private readonly nodeTargets = new Map<string, ComputeTarget>();
  /** The leadership term the running cycle works under: every write is fenced by it, every ARM call cancelled with it. */
  private term: LeaderTerm = UNFENCED;

  constructor(
    kube: KubeSession,
    azure: AzureSession,
    private readonly options: ReconcileOptions,
    private readonly logger: Logger,
    private readonly metrics: MicMetrics,
    private readonly store?: PreexistingStore,
  ) {
    this.writer = new AssignedIdentityWriter(kube, () => this.term.check());
    this.identities = new IdentityService(azure);
    this.compute = new ComputeIdentities(azure, {
      maxRetryMs: options.armRetryBudgetMs,
      onWrite: (target, ok) => metrics.inc("aadpodidentity_cloud_provider_write_count", { kind: target.kind, result: ok ? "success" : "failure" }),
      onRetry: (m) => logger.warn(m),
    });
    this.immutable = new Set(options.immutableClientIds.map((c) => c.trim().toLowerCase()).filter(Boolean));
  }

  /** The identities recorded as present before MIC (per target id), for tests and diagnostics. */
  preexistingOn(targetId: string): ReadonlySet<string> {
    return this.preexisting.get(targetId) ?? new Set();
  }

  /**
   * One cycle. Under a leadership term, it stops with the term: ARM calls are aborted and every later write is
   * refused (the NotLeaderError or abort propagates to the caller; nothing is reported as a failure).
   */
  async sync(snapshot: Snapshot, term: LeaderTerm = UNFENCED): Promise<CycleResult> {
    this.term = term;
    term.check();
    const started = Date.now();
    const state = desired(snapshot.pods, snapshot.identities, snapshot.bindings, snapshot.nodes, { forceNamespaced: this.options.forceNamespaced });
    for (const s of state.skipped) this.reportOnce(`skip:${s.kind}:${s.namespace}/${s.name}`, `ignoring ${s.kind} ${s.namespace}/${s.name}: ${s.reason}`);

    const current = new Map(snapshot.assigned.map((a) => [keyOf(a), a]));
    const wanted = new Map(state.assigned.map((a) => [keyOf(a), a]));
    let workDone = false;
    let pending = false;

    // 1. Kubernetes first: new and changed assignments are written as Created before any ARM call.
    const toAssign: AzureAssignedIdentity[] = [];
    const replaced: AzureAssignedIdentity[] = [];
    const writesFailed = await this.each([...wanted], async ([key, want]) => {
      const have = current.get(key);
      if (!have) {
        const result = await this.writer.create(want);
        if (result === "created") {
          workDone = true;
          this.metrics.inc("aadpodidentity_assigned_identity_addition_count");
          this.logger.info(`creating assigned id ${key}`);
        }
        toAssign.push(want);
      } else if (!sameAssignment(have, want)) {
        const labels = { ...have.metadata.labels, ...want.metadata.labels };
        const finalizers = [...new Set([...((have.metadata.finalizers as string[] | undefined) ?? []), ASSIGNED_IDENTITY_FINALIZER])];
        const after: AzureAssignedIdentity = { ...want, metadata: { ...have.metadata, labels, finalizers }, status: { ...have.status, status: "Created", availableReplicas: 1 } };
        await this.writer.replace(after);
        workDone = true;
        this.metrics.inc("aadpodidentity_assigned_identity_update_count");
        this.logger.info(`updating assigned id ${key}`);
        // Node or identity may have changed: the old one is a removal candidate (kept when still needed).
        replaced.push(have);
        toAssign.push(after);
      } else if (have.status?.status !== "Assigned") {
        toAssign.push(have);
      }
    });
    const leaving = [...current].filter(([key]) => !wanted.has(key)).map(([, a]) => a);

    // 2. Group the work by scale set / VM.
    const work = new Map<string, TargetWork>();
    const workFor = (target: ComputeTarget) => {
      let w = work.get(target.id);
      if (!w) work.set(target.id, (w = { target, needed: state.targets.get(target.id)?.identities ?? new Map(), toAssign: [], leaving: [], toDelete: [] }));
      return w;
    };
    for (const t of state.targets.values()) workFor(t.target);
    const direct: (() => Promise<void>)[] = [];
    for (const aai of toAssign) {
      const target = state.nodeTargets.get(aai.spec.nodename);
      if (userAssignedIdOf(aai) && target) workFor(target).toAssign.push(aai);
      else direct.push(() => this.setAssigned(aai).then(() => void (workDone = true)));
    }
    for (const [node, target] of state.nodeTargets) this.nodeTargets.set(node, target);
    for (const aai of [...leaving, ...replaced]) {
      // A node deleted from the cluster is still known here: its pods' identities are detached, not leaked.
      const target = state.nodeTargets.get(aai.spec.nodename) ?? this.nodeTargets.get(aai.spec.nodename);
      const isLeaving = leaving.includes(aai);
      if (userAssignedIdOf(aai) && target) {
        const w = workFor(target);
        w.leaving.push(aai);
        if (isLeaving) w.toDelete.push(aai);
      } else if (isLeaving) {
        // A service principal, or a node never seen: nothing to detach (upstream deletes without ARM).
        direct.push(() => this.remove(aai).then(() => void (workDone = true)));
      }
    }
    const directFailed = await this.each(direct, (write) => write());
    pending ||= writesFailed || directFailed;

    // 3. ARM: each target in parallel, one identity update each.
    const results = await Promise.all([...work.values()].map((w) => this.syncTarget(w, snapshot.assigned)));
    for (const r of results) {
      workDone ||= r.workDone;
      pending ||= r.pending;
    }

    this.metrics.inc("aadpodidentity_mic_cycle_count");
    this.metrics.observe("aadpodidentity_mic_cycle_duration_seconds", (Date.now() - started) / 1000);
    if (workDone) {
      this.logger.info(`work done: true. Found ${snapshot.pods.length} pods, ${snapshot.identities.length} ids, ${snapshot.bindings.length} bindings (${Date.now() - started} ms)`);
    }
    return { workDone, pending };
  }

  private async syncTarget(w: TargetWork, allAssigned: readonly AzureAssignedIdentity[]): Promise<CycleResult> {
    const { target } = w;
    let state: ComputeIdentityState;
    try {
      state = await this.compute.get(target, { signal: this.term.signal });
      this.metrics.inc("aadpodidentity_cloud_provider_read_count", { result: "success" });
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.metrics.inc("aadpodidentity_cloud_provider_read_count", { result: "failure" });
      await this.failAssignments(w.toAssign, () => `reading ${target.name} failed: ${message(err)}`);
      return { workDone: false, pending: true };
    }
    const preexisting = await this.recordPreexisting(target.id, state, allAssigned);
    const isProtected = (id: string, clientIds: (string | undefined)[]) =>
      preexisting.has(id) || clientIds.some((c) => c !== undefined && this.immutable.has(c.toLowerCase()));

    const remove = new Set<string>();
    for (const aai of w.leaving) {
      const id = userAssignedIdOf(aai)!;
      if (w.needed.has(id) || !state.identities.has(id)) continue;
      if (isProtected(id, [state.identities.get(id)?.clientId, identitySpec(aai.spec.azureIdentityRef).clientID])) continue;
      remove.add(id);
    }
    const add = new Set<string>();
    const stale = new Set<string>();
    for (const [id, need] of w.needed) {
      const attached = state.identities.get(id);
      if (!attached) add.add(id);
      else if (await this.isStale(need, attached.clientId)) stale.add(id);
    }

    const failures = new Map<string, string>();
    let workDone = false;
    if (add.size || remove.size || stale.size) {
      const addIds = [...add, ...stale].map((id) => w.needed.get(id)!.resourceId);
      const removeIds = [...remove].map((id) => state.identities.get(id)!.resourceId);
      this.logger.info(`updating user-assigned identities on ${target.name}, assign [${addIds.length}], unassign [${removeIds.length}]${stale.size ? `, re-attach [${stale.size}]` : ""}`);
      const staleIds = [...stale].map((id) => state.identities.get(id)!.resourceId);
      let ok = true;
      if (staleIds.length) {
        // A re-created identity keeps its resource id but not its client id: detach the stale entry, then attach anew.
        const detached = await this.update(target, state, { add: [], remove: [...removeIds, ...staleIds] }, failures);
        state = detached.state;
        ok = detached.ok;
        workDone ||= detached.wrote;
        if (ok) {
          const attached = await this.update(target, state, { add: addIds, remove: [] }, failures);
          state = attached.state;
          ok = attached.ok;
          workDone ||= attached.wrote;
        }
      } else {
        const updated = await this.update(target, state, { add: addIds, remove: removeIds }, failures);
        state = updated.state;
        ok = updated.ok;
        workDone ||= updated.wrote;
      }
      if (!ok) {
        try {
          state = await this.compute.get(target, { signal: this.term.signal });
        } catch (err) {
          if (isCancellation(err)) throw err;
          this.logger.warn(`reading ${target.name} after a failed update: ${message(err)}`);
        }
      }
    }

    // Statuses follow what the scale set now holds: one refused identity never holds the others back.
    // (A callback's own `pending = true` must survive: each() only reports writes that threw.)
    let pending = false;
    const assignFailed = await this.each(w.toAssign, async (aai) => {
      const id = userAssignedIdOf(aai)!;
      if (state.identities.has(id) && !failures.has(id)) {
        await this.setAssigned(aai);
        workDone = true;
      } else {
        pending = true;
        await this.failAssignments([aai], () => failures.get(id) ?? `identity ${id} is not attached to ${target.name}`);
      }
    });
    const deleteFailed = await this.each(w.toDelete, async (aai) => {
      const id = userAssignedIdOf(aai)!;
      if (remove.has(id) && state.identities.has(id)) {
        pending = true;
        const why = `removing identity ${id} from ${target.name} failed: ${failures.get(id) ?? "still attached"}`;
        if (this.reportOnce(`rm:${keyOf(aai)}`, why)) await this.writer.event(aai, "Warning", "binding remove error", why);
        return;
      }
      await this.remove(aai);
      workDone = true;
    });
    pending ||= assignFailed || deleteFailed;
    return { workDone, pending };
  }

  /**
   * Runs one identity change; when ARM refuses named identities (no assign permission, not found), drops them
   * and retries the rest, at most --update-user-msi-max-retry times. Records per-identity failure reasons.
   */
  private async update(
    target: ComputeTarget,
    state: ComputeIdentityState,
    change: { add: string[]; remove: string[] },
    failures: Map<string, string>,
  ): Promise<{ state: ComputeIdentityState; ok: boolean; wrote: boolean }> {
    let add = [...change.add];
    for (let attempt = 0; ; attempt++) {
      try {
        const after = await this.compute.update(target, { add, remove: change.remove }, state, { signal: this.term.signal, fence: () => this.term.check() });
        return { state: after, ok: add.length === change.add.length, wrote: after !== state };
      } catch (err) {
        if (isCancellation(err)) throw err;
        const refused = new Set(refusedIdentityIds(err));
        const dropped = add.filter((id) => refused.has(id.toLowerCase()));
        for (const id of dropped) failures.set(id.toLowerCase(), message(err));
        if (dropped.length && attempt < this.options.updateUserMsiMaxRetry && (add.length > dropped.length || change.remove.length)) {
          add = add.filter((id) => !refused.has(id.toLowerCase()));
          this.logger.warn(`removing ${dropped.join(", ")} from the identity list of ${target.name} since it is erroneous; retrying with the rest`);
          await sleep(this.options.updateUserMsiRetryIntervalMs, undefined, { signal: this.term.signal });
          continue;
        }
        for (const id of [...add, ...change.remove]) if (!failures.has(id.toLowerCase())) failures.set(id.toLowerCase(), message(err));
        this.logger.warn(`updating identities on ${target.name} failed: ${message(err)}`);
        return { state, ok: false, wrote: false };
      }
    }
  }

  /** The scale set's entry for a needed identity carries another client id, and ARM says the identity has a new one. */
  private async isStale(need: NeededIdentity, attachedClientId: string | undefined): Promise<boolean> {
    if (!need.clientId || !attachedClientId || need.clientId.toLowerCase() === attachedClientId.toLowerCase()) return false;
    try {
      const id = parseResourceId(need.resourceId, USER_ASSIGNED_IDENTITY_TYPE);
      const live = await this.identities.get(id.resourceGroup, id.name);
      const stale = Boolean(live && live.clientId.toLowerCase() !== attachedClientId.toLowerCase());
      if (!stale) this.reportOnce(`client:${need.resourceId}`, `AzureIdentity client id ${need.clientId} does not match identity ${need.resourceId} (${live ? live.clientId : "not found"})`);
      return stale;
    } catch (err) {
      this.logger.warn(`checking the client id of ${need.resourceId}: ${message(err)}`);
      return false;
    }
  }

  /**
   * Identities on a target that MIC did not put there are never detached. They are recorded the first time any
   * MIC sees the target (present, and no AzureAssignedIdentity explains them) and kept in the store, so a
   * later leader does not mistake one a pod also uses (the kubelet identity, say) for MIC's own.
   */
  private async recordPreexisting(targetId: string, state: ComputeIdentityState, allAssigned: readonly AzureAssignedIdentity[]): Promise<Set<string>> {
    const known = this.preexisting.get(targetId);
    if (known) return known;
    let stored: string[] | undefined;
    try {
      stored = (await this.store?.load())?.[targetId];
    } catch (err) {
      this.logger.warn(`reading the record of identities present before MIC: ${message(err)}`);
    }
    const explained = new Set(allAssigned.map(userAssignedIdOf).filter((id): id is string => Boolean(id)));
    const set = new Set(stored ?? [...state.identities.keys()].filter((id) => !explained.has(id)));
    if (!stored && this.store) {
      this.term.check();
      try {
        await this.store.save(targetId, [...set]);
      } catch (err) {
        this.logger.warn(`saving the record of identities present before MIC: ${message(err)}`);
      }
    }
    this.preexisting.set(targetId, set);
    if (set.size && !stored) this.logger.info(`identities on ${targetId.split("/").pop()} before MIC (never removed): ${[...set].join(", ")}`);
    return set;
  }

  private async setAssigned(aai: AzureAssignedIdentity): Promise<void> {
    if (aai.status?.status === "Assigned") return;
    await this.writer.setStatus(aai, "Assigned");
    this.reported.delete(`assign:${keyOf(aai)}`);
  }

  private async remove(aai: AzureAssignedIdentity): Promise<void> {
    await this.writer.remove(aai);
    this.reported.delete(`rm:${keyOf(aai)}`);
    this.metrics.inc("aadpodidentity_assigned_identity_deletion_count");
    this.logger.info(`deleting assigned id ${keyOf(aai)}`);
  }

  /** Leaves them Created and says why: a warning and an Event on each (once per distinct reason). */
  private async failAssignments(aais: AzureAssignedIdentity[], why: () => string): Promise<void> {
    const reason = why();
    await this.each(aais, async (aai) => {
      if (this.reportOnce(`assign:${keyOf(aai)}`, `assigning ${keyOf(aai)}: ${reason}`)) {
        await this.writer.event(aai, "Warning", "binding apply error", reason);
      }
    });
  }

  /**
   * Kubernetes writes, at most KUBE_WRITE_CONCURRENCY in flight (upstream's --createDeleteBatch); one failing
   * write is logged and leaves the cycle pending without stopping the others. True when any failed.
   */
  private async each<T>(items: readonly T[], write: (item: T) => Promise<void>): Promise<boolean> {
    let failed = false;
    await mapConcurrent(items, KUBE_WRITE_CONCURRENCY, async (item) => {
      try {
        await write(item);
      } catch (err) {
        if (isCancellation(err)) throw err;
        failed = true;
        this.logger.warn(message(err));
      }
    });
    return failed;
  }

  /** Logs a warning unless the same text was logged for this key last time; true when logged. */
  private reportOnce(key: string, text: string): boolean {
    if (this.reported.get(key) === text) return false;
    this.reported.set(key, text);
    this.logger.warn(text);
    return true;
  }
}
