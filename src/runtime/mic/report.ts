import { azureBusyMessage, ScaleSetTrouble, TROUBLE_EVENT_TYPE, type CloudOperation } from "../../aadpodidentity/contract/mic-reports.js";
import type { NeededIdentity, Skipped } from "../../aadpodidentity/desired.js";
import type { AzureAssignedIdentity } from "../../aadpodidentity/types.js";
import type { ComputeFailure } from "../../azure/errors.js";
import type { ComputeRetry, ComputeTarget } from "../../azure/scale-sets.js";
import type { AssignedIdentityWriter } from "../../kube/assigned-identities.js";
import type { Logger } from "../../util/logger.js";
import type { MicMetrics } from "./metrics.js";
import { assignmentKey, type Failure, type TargetPlan } from "./plan.js";

/** The Event reason and metric label of each kind of ARM failure. */
const TROUBLE: Record<ComputeFailure, ScaleSetTrouble> = {
  throttled: ScaleSetTrouble.Throttled,
  "identity-limit": ScaleSetTrouble.IdentityLimit,
  "linked-authorization": ScaleSetTrouble.LinkedAuthorization,
  authorization: ScaleSetTrouble.Authorization,
  "identity-refused": ScaleSetTrouble.IdentityRefused,
  other: ScaleSetTrouble.Failed,
};

const operationOf = (target: ComputeTarget, operation: "get" | "update"): CloudOperation => `${target.kind === "scaleSet" ? "vmss" : "vm"}_${operation}`;

/** What an assignment waits for: to be attached (and turn Assigned) or detached (and be deleted). */
export type Waiting = "assign" | "remove";

/**
 * What MIC tells about its work: Warning Events with a reason on the AzureAssignedIdentities concerned, metrics, and
 * its log, where a reason repeated unchanged is not written again every cycle.
 */
export class MicReporter {
  /** Last thing reported per AzureAssignedIdentity / skipped object. */
  private readonly reported = new Map<string, string>();
  /** Events under way (told from callbacks that cannot wait); awaited by flush(). */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly writer: AssignedIdentityWriter,
    private readonly metrics: MicMetrics,
    private readonly logger: Logger,
  ) {}

  skipped(s: Skipped): void {
    const text = `ignoring ${s.kind} ${s.namespace}/${s.name}: ${s.reason}`;
    this.once(`skip:${s.kind}:${s.namespace}/${s.name}`, text, text);
  }

  created(aai: AzureAssignedIdentity): void {
    this.metrics.additions.inc();
    this.logger.info(`creating assigned id ${assignmentKey(aai)}`);
  }

  updated(aai: AzureAssignedIdentity): void {
    this.metrics.updates.inc();
    this.logger.info(`updating assigned id ${assignmentKey(aai)}`);
  }

  assigned(aai: AzureAssignedIdentity): void {
    this.reported.delete(`assign:${assignmentKey(aai)}`);
  }

  deleted(aai: AzureAssignedIdentity): void {
    this.reported.delete(`remove:${assignmentKey(aai)}`);
    this.metrics.deletions.inc();
    this.logger.info(`deleting assigned id ${assignmentKey(aai)}`);
  }

  read(ok: boolean): void {
    this.metrics.cloudReads.inc({ result: ok ? "success" : "failure" });
  }

  written(target: ComputeTarget, ok: boolean): void {
    this.metrics.cloudWrites.inc({ kind: target.kind, result: ok ? "success" : "failure" });
  }

  /** A read or write of a target failed for good (after retries): counted by operation and reason. */
  failed(target: ComputeTarget, operation: "get" | "update", why: Failure): void {
    this.metrics.cloudErrors.inc({ operation_type: operationOf(target, operation), reason: TROUBLE[why.failure] });
  }

  /**
   * ARM answered a call for `target` with a transient failure (429, 5xx, a dropped connection) and it is retried:
   * logged. Throttling is also counted and recorded on the assignments waiting for the target (once per episode),
   * so that doctor sees it while it lasts; the other transient failures are MIC's to ride out.
   */
  retrying(target: ComputeTarget, retry: ComputeRetry, waiting: readonly [AzureAssignedIdentity, Waiting][]): void {
    const text = azureBusyMessage({ doing: `${retry.operation === "get" ? "reading" : "updating"} ${target.name}`, status: retry.status, attempt: retry.attempt, delayMs: retry.delayMs });
    this.logger.warn(text);
    if (retry.failure !== "throttled") return;
    const reason = TROUBLE[retry.failure];
    this.metrics.cloudErrors.inc({ operation_type: operationOf(target, retry.operation), reason });
    // One Event per assignment for the whole episode (the attempt number and delay change each time).
    for (const [aai, waits] of waiting) this.track(this.record(aai, waits, reason, text, { key: reason, log: false }));
  }

  /** An assignment stays Created: a warning and a Warning Event with the reason (once per distinct reason and message). */
  notAssigned(aai: AzureAssignedIdentity, why: Failure): Promise<void> {
    return this.record(aai, "assign", TROUBLE[why.failure], `assigning ${assignmentKey(aai)}: ${why.message}`);
  }

  notRemoved(aai: AzureAssignedIdentity, id: string, target: ComputeTarget, why: Failure): Promise<void> {
    return this.record(aai, "remove", TROUBLE[why.failure], `removing identity ${id} from ${target.name} failed: ${why.message}`);
  }

  updating(target: ComputeTarget, plan: TargetPlan): void {
    this.logger.info(`updating user-assigned identities on ${target.name}, assign [${plan.add.length}], unassign [${plan.remove.length}]${plan.reattach.length ? `, re-attach [${plan.reattach.length}]` : ""}`);
  }

  updateFailed(target: ComputeTarget, why: Failure): void {
    this.failed(target, "update", why);
    this.logger.warn(`updating identities on ${target.name} failed: ${why.message}`);
  }

  dropped(target: ComputeTarget, ids: readonly string[], why: Failure): void {
    this.failed(target, "update", why);
    this.logger.warn(`removing ${ids.join(", ")} from the identity list of ${target.name} since it is erroneous; retrying with the rest`);
  }

  preexisting(target: ComputeTarget, ids: readonly string[]): void {
    if (ids.length) this.logger.info(`identities on ${target.name} before MIC (never removed): ${ids.join(", ")}`);
  }

  /** The target's entry has another client id than the AzureIdentity, and ARM says the entry is current. */
  clientIdMismatch(need: NeededIdentity, liveClientId: string | undefined): void {
    const text = `AzureIdentity client id ${need.clientId} does not match identity ${need.resourceId} (${liveClientId ?? "not found"})`;
    this.once(`client:${need.resourceId}`, text, text);
  }

  cycle(durationMs: number, workDone: boolean, counts: { pods: number; identities: number; bindings: number }): void {
    this.metrics.cycles.inc();
    this.metrics.cycleDuration.observe(durationMs / 1000);
    if (workDone) this.logger.info(`work done: true. Found ${counts.pods} pods, ${counts.identities} ids, ${counts.bindings} bindings (${durationMs} ms)`);
  }

  /** Waits for the Events told from callbacks. */
  async flush(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  /** Logs and records `message` as a Warning Event, unless `key` (default: the reason and message) was the last reported. */
  private async record(aai: AzureAssignedIdentity, waits: Waiting, reason: ScaleSetTrouble, message: string, options: { key?: string; log?: boolean } = {}): Promise<void> {
    if (!this.once(`${waits}:${assignmentKey(aai)}`, options.key ?? `${reason}: ${message}`, options.log === false ? undefined : message)) return;
    // Best effort: an Event that cannot be written (or a term that ended) never fails the cycle.
    await this.writer.event(aai, TROUBLE_EVENT_TYPE, reason, message).catch(() => false);
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** True (and `text` logged as a warning, when given) unless `key` is what was reported last time for `slot`. */
  private once(slot: string, key: string, text?: string): boolean {
    if (this.reported.get(slot) === key) return false;
    this.reported.set(slot, key);
    if (text !== undefined) this.logger.warn(text);
    return true;
  }
}
