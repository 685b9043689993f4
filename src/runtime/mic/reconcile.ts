import { desired } from "../../aadpodidentity/desired.js";
import type { AzureAssignedIdentity } from "../../aadpodidentity/types.js";
import { IdentityService } from "../../azure/identities.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../azure/resource-id.js";
import { ComputeIdentities, type CallControl, type ComputeIdentityState, type ComputeTarget } from "../../azure/scale-sets.js";
import type { AzureSession } from "../../azure/session.js";
import { AssignedIdentityWriter } from "../../kube/assigned-identities.js";
import type { LeaderTerm } from "../../kube/lease.js";
import type { KubeSession } from "../../kube/session.js";
import { isCancellation } from "../../util/cancel.js";
import type { Logger } from "../../util/logger.js";
import { eachWrite, failureOf, firstLine, TargetApplier, type ApplyOptions } from "./apply.js";
import type { MicMetrics } from "./metrics.js";
import {
  byTarget,
  clientIdMismatches,
  hasChanges,
  planAssignments,
  planTarget,
  settle,
  unexplainedIdentities,
  userAssignedIdOf,
  type Failure,
  type Snapshot,
  type TargetWork,
} from "./plan.js";
import { MicReporter, type Waiting } from "./report.js";

export type { Snapshot } from "./plan.js";

export interface ReconcileOptions extends ApplyOptions {
  forceNamespaced: boolean;
  /** Client ids never detached (--immutable-user-msis, plus the cluster identity from the cloud config). */
  immutableClientIds: readonly string[];
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

/** For a Reconciler driven without leader election (tests, one-off runs): a term that never ends. */
export const UNFENCED: LeaderTerm = { signal: new AbortController().signal, check: () => undefined };

/**
 * One sync cycle: plan (plan.ts, pure), apply (Kubernetes writes here, ARM writes in apply.ts), report (report.ts).
 * Kubernetes first: new and changed assignments are written as Created before any ARM call; then each scale set in
 * parallel, one identity PATCH each (split at ARM's 150 limit, and in two when a re-created identity is
 * re-attached); then statuses follow what the scale sets hold.
 */
export class Reconciler {
  private readonly writer: AssignedIdentityWriter;
  private readonly compute: ComputeIdentities;
  private readonly identities: IdentityService;
  private readonly applier: TargetApplier;
  private readonly report: MicReporter;
  /** Per target: identities that were there before MIC first saw it and that no assignment explains. Never detached. */
  private readonly preexisting = new Map<string, Set<string>>();
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
    metrics: MicMetrics,
    private readonly store?: PreexistingStore,
  ) {
    this.writer = new AssignedIdentityWriter(kube, () => this.term.check());
    this.report = new MicReporter(this.writer, metrics, logger);
    this.identities = new IdentityService(azure);
    this.compute = new ComputeIdentities(azure, { maxRetryMs: options.armRetryBudgetMs, onWrite: (target, ok) => this.report.written(target, ok) });
    this.applier = new TargetApplier(this.compute, options, (target, ids, why) => this.report.dropped(target, ids, why));
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
    for (const s of state.skipped) this.report.skipped(s);
    const plan = planAssignments(snapshot.assigned, state.assigned);
    let workDone = false;

    // 1. Kubernetes first. Only what was written goes on to ARM.
    const written = new Set<AzureAssignedIdentity>();
    const createFailed = await this.each(plan.create, async (aai) => {
      if ((await this.writer.create(aai)) === "created") {
        workDone = true;
        this.report.created(aai);
      }
      written.add(aai);
    });
    const replaceFailed = await this.each(plan.replace, async ({ after }) => {
      await this.writer.replace(after);
      workDone = true;
      this.report.updated(after);
      written.add(after);
    });
    for (const [node, target] of state.nodeTargets) this.nodeTargets.set(node, target);
    const { targets, direct } = byTarget({ ...plan, create: plan.create.filter((a) => written.has(a)), replace: plan.replace.filter((r) => written.has(r.after)) }, state, this.nodeTargets);
    const directFailed = await this.each([...direct.setAssigned.map((aai) => () => this.setAssigned(aai)), ...direct.remove.map((aai) => () => this.remove(aai))], async (write) => {
      await write();
      workDone = true;
    });

    // 2. ARM: each target in parallel.
    const results = await Promise.all(targets.map((w) => this.syncTarget(w, snapshot.assigned)));
    let pending = createFailed || replaceFailed || directFailed;
    for (const r of results) {
      workDone ||= r.workDone;
      pending ||= r.pending;
    }
    this.report.cycle(Date.now() - started, workDone, { pods: snapshot.pods.length, identities: snapshot.identities.length, bindings: snapshot.bindings.length });
    return { workDone, pending };
  }

  private async syncTarget(w: TargetWork, allAssigned: readonly AzureAssignedIdentity[]): Promise<CycleResult> {
    const { target } = w;
    const waiting: [AzureAssignedIdentity, Waiting][] = [...w.toAssign.map((a): [AzureAssignedIdentity, Waiting] => [a, "assign"]), ...w.toDelete.map((a): [AzureAssignedIdentity, Waiting] => [a, "remove"])];
    const control: CallControl = { signal: this.term.signal, fence: () => this.term.check(), onRetry: (retry) => this.report.retrying(target, retry, waiting) };
    try {
      let state: ComputeIdentityState;
      try {
        state = await this.compute.get(target, control);
        this.report.read(true);
      } catch (err) {
        if (isCancellation(err)) throw err;
        this.report.read(false);
        const why = failureOf(err);
        this.report.failed(target, "get", why);
        await this.each(w.toAssign, (aai) => this.report.notAssigned(aai, { ...why, message: `reading ${target.name} failed: ${why.message}` }));
        return { workDone: false, pending: true };
      }
      const preexisting = await this.recordPreexisting(target, state, allAssigned);
      const plan = planTarget(w, state, { preexisting, immutableClientIds: this.immutable }, await this.recreated(w, state));

      let workDone = false;
      let failures = new Map<string, Failure>();
      if (hasChanges(plan)) {
        this.report.updating(target, plan);
        const applied = await this.applier.apply(target, state, plan, control);
        ({ state, failures } = applied);
        workDone = applied.wrote;
        if (applied.failure) this.report.updateFailed(target, applied.failure);
        if (!applied.complete) {
          try {
            state = await this.compute.get(target, control);
          } catch (err) {
            if (isCancellation(err)) throw err;
            this.logger.warn(`reading ${target.name} after a failed update: ${firstLine(err)}`);
          }
        }
      }

      const settled = settle(w, plan, state, failures);
      const failed = await Promise.all([
        this.each(settled.assigned, (aai) => this.setAssigned(aai)),
        this.each(settled.remove, (aai) => this.remove(aai)),
        this.each(settled.notAssigned, ({ aai, why }) => this.report.notAssigned(aai, why)),
        this.each(settled.notRemoved, ({ aai, why }) => this.report.notRemoved(aai, userAssignedIdOf(aai)!, target, why)),
      ]);
      workDone ||= settled.assigned.length + settled.remove.length > 0;
      return { workDone, pending: failed.some(Boolean) || settled.notAssigned.length + settled.notRemoved.length > 0 };
    } finally {
      await this.report.flush();
    }
  }

  /**
   * The needed identities that were deleted and re-created under the same resource id: the target holds another
   * client id than the AzureIdentity names, and ARM says the identity's client id is no longer the target's.
   */
  private async recreated(w: TargetWork, state: ComputeIdentityState): Promise<Set<string>> {
    const stale = new Set<string>();
    for (const { need, attachedClientId } of clientIdMismatches(w, state)) {
      try {
        const id = parseResourceId(need.resourceId, USER_ASSIGNED_IDENTITY_TYPE);
        const live = await this.identities.get(id.resourceGroup, id.name);
        if (live && live.clientId.toLowerCase() !== attachedClientId.toLowerCase()) stale.add(need.resourceId.toLowerCase());
        else this.report.clientIdMismatch(need, live?.clientId);
      } catch (err) {
        if (isCancellation(err)) throw err;
        this.logger.warn(`checking the client id of ${need.resourceId}: ${firstLine(err)}`);
      }
    }
    return stale;
  }

  /**
   * Identities on a target that MIC did not put there are never detached. They are recorded the first time any
   * MIC sees the target (present, and no AzureAssignedIdentity explains them) and kept in the store, so a
   * later leader does not mistake one a pod also uses (the kubelet identity, say) for MIC's own.
   */
  private async recordPreexisting(target: ComputeTarget, state: ComputeIdentityState, allAssigned: readonly AzureAssignedIdentity[]): Promise<Set<string>> {
    const known = this.preexisting.get(target.id);
    if (known) return known;
    let stored: string[] | undefined;
    try {
      stored = (await this.store?.load())?.[target.id];
    } catch (err) {
      this.logger.warn(`reading the record of identities present before MIC: ${firstLine(err)}`);
    }
    const set = new Set(stored ?? unexplainedIdentities(state, allAssigned));
    if (!stored && this.store) {
      this.term.check();
      try {
        await this.store.save(target.id, [...set]);
      } catch (err) {
        this.logger.warn(`saving the record of identities present before MIC: ${firstLine(err)}`);
      }
    }
    this.preexisting.set(target.id, set);
    if (!stored) this.report.preexisting(target, [...set]);
    return set;
  }

  private async setAssigned(aai: AzureAssignedIdentity): Promise<void> {
    if (aai.status?.status === "Assigned") return;
    await this.writer.setStatus(aai, "Assigned");
    this.report.assigned(aai);
  }

  private async remove(aai: AzureAssignedIdentity): Promise<void> {
    await this.writer.remove(aai);
    this.report.deleted(aai);
  }

  /** Kubernetes writes (see eachWrite): a failing one is logged and leaves the cycle pending. */
  private each<T>(items: readonly T[], write: (item: T) => Promise<void>): Promise<boolean> {
    return eachWrite(items, write, (err) => this.logger.warn(firstLine(err)));
  }
}
