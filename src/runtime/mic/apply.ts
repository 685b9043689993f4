import { computeFailureOf, refusedIdentityIds } from "../../azure/errors.js";
import type { CallControl, ComputeIdentities, ComputeIdentityState, ComputeTarget } from "../../azure/scale-sets.js";
import { isCancellation } from "../../util/cancel.js";
import { mapConcurrent } from "../../util/concurrency.js";
import { retry } from "../../util/retry.js";
import { identityUpdates, type Failure, type TargetPlan } from "./plan.js";

/** MIC's ARM writes: a target plan applied as identity PATCHes, dropping what ARM refuses and retrying the rest. */

export interface ApplyOptions {
  /** Retries of a PATCH after dropping the identities ARM refused (--update-user-msi-max-retry). */
  updateUserMsiMaxRetry: number;
  updateUserMsiRetryIntervalMs: number;
}

export interface Applied {
  /** What the target holds afterwards (as ARM last answered). */
  state: ComputeIdentityState;
  /** Per lower-cased identity id: why it could not be attached or detached. */
  failures: Map<string, Failure>;
  /** Something was written. */
  wrote: boolean;
  /** Every identity went through (none dropped, no update refused). */
  complete: boolean;
  /** Why an update was refused for good (undefined when none was). */
  failure?: Failure;
}

export const firstLine = (err: unknown): string => (err instanceof Error ? err.message.split("\n")[0] : String(err));
export const failureOf = (err: unknown): Failure => ({ failure: computeFailureOf(err), message: firstLine(err) });

export class TargetApplier {
  constructor(
    private readonly compute: ComputeIdentities,
    private readonly options: ApplyOptions,
    /** Told when identities ARM refused are dropped so the rest can go through. */
    private readonly onDropped: (target: ComputeTarget, ids: string[], why: Failure) => void,
  ) {}

  /** Applies the plan's updates in order; an update that fails leaves the later ones unsent. Cancellation propagates. */
  async apply(target: ComputeTarget, state: ComputeIdentityState, plan: TargetPlan, control: CallControl): Promise<Applied> {
    const failures = new Map<string, Failure>();
    let wrote = false;
    for (const change of identityUpdates(plan)) {
      const done = await this.update(target, state, change, failures, control);
      wrote ||= done.state !== state;
      state = done.state;
      if (done.failure) return { state, failures, wrote, complete: false, failure: done.failure };
      if (!done.complete) return { state, failures, wrote, complete: false };
    }
    return { state, failures, wrote, complete: true };
  }

  /**
   * One identity change; when ARM refuses named identities (no assign permission, not found), drops them and retries
   * the rest, at most --update-user-msi-max-retry times, --update-user-msi-retry-interval apart.
   */
  private async update(target: ComputeTarget, state: ComputeIdentityState, change: { add: string[]; remove: string[] }, failures: Map<string, Failure>, control: CallControl): Promise<{ state: ComputeIdentityState; complete: boolean; failure?: Failure }> {
    let add = [...change.add];
    const refusedOf = (err: unknown) => {
      const refused = new Set(refusedIdentityIds(err));
      return add.filter((id) => refused.has(id.toLowerCase()));
    };
    try {
      const after = await retry(() => this.compute.update(target, { add, remove: change.remove }, state, control), {
        // Dropping is worth a retry only while something else is left to send.
        retryable: (err) => !isCancellation(err) && refusedOf(err).length > 0 && (add.length > refusedOf(err).length || change.remove.length > 0),
        onRetry: ({ error }) => {
          const dropped = refusedOf(error);
          for (const id of dropped) failures.set(id.toLowerCase(), failureOf(error));
          add = add.filter((id) => !dropped.includes(id));
          this.onDropped(target, dropped, failureOf(error));
        },
        maxAttempts: this.options.updateUserMsiMaxRetry + 1,
        maxElapsedMs: Infinity,
        initialDelayMs: this.options.updateUserMsiRetryIntervalMs,
        maxDelayMs: this.options.updateUserMsiRetryIntervalMs,
        signal: control.signal,
      });
      return { state: after, complete: add.length === change.add.length };
    } catch (err) {
      if (isCancellation(err)) throw err;
      const why = failureOf(err);
      for (const id of refusedOf(err)) failures.set(id.toLowerCase(), why);
      for (const id of [...add, ...change.remove]) if (!failures.has(id.toLowerCase())) failures.set(id.toLowerCase(), why);
      return { state, complete: false, failure: why };
    }
  }
}

/** Kubernetes writes in flight at once (upstream's --createDeleteBatch default). */
const KUBE_WRITE_CONCURRENCY = 20;

/**
 * Kubernetes writes, at most KUBE_WRITE_CONCURRENCY in flight; one failing write is handed to `failed` and leaves
 * the others going. True when any failed. Cancellation propagates.
 */
export async function eachWrite<T>(items: readonly T[], write: (item: T) => Promise<void>, failed: (err: unknown) => void): Promise<boolean> {
  let any = false;
  await mapConcurrent(items, KUBE_WRITE_CONCURRENCY, async (item) => {
    try {
      await write(item);
    } catch (err) {
      if (isCancellation(err)) throw err;
      any = true;
      failed(err);
    }
  });
  return any;
}
