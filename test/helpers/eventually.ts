import { setTimeout as sleep } from "node:timers/promises";

export interface EventuallyOptions {
  /** How long to keep trying before failing (default 30 s): a bound for a hang, never a measure of speed. */
  timeoutMs?: number;
  /** Pause between tries (default 50 ms; more for checks that spawn a process). */
  intervalMs?: number;
  /** More to say when time runs out: logs, what the cluster holds. */
  context?: () => string | Promise<string>;
}

/**
 * Tries `check` until it holds and returns what it returned. It holds when it returns anything but `false`
 * and does not throw: a predicate, a read that returns false while the state is not there yet, or a block of
 * assertions that throws until it is. When time runs out, fails naming `what` and the last failure.
 */
export async function eventually<T>(what: string, check: () => T | Promise<T>, options: EventuallyOptions = {}): Promise<Exclude<T, false>> {
  const { timeoutMs = 30_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const value = await check();
      if (value !== false) return value as Exclude<T, false>;
      last = "it did not hold";
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      const more = options.context ? `\n${await options.context()}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${last}${more}`);
    }
    await sleep(intervalMs);
  }
}

/** Resolves with the promise's value, or fails if it has not settled within `timeoutMs` (a bound, e.g. a shutdown). */
export async function settlesWithin<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}
