import { setTimeout as sleep } from "node:timers/promises";

export interface RetryOptions {
  /** Only errors this says are transient are retried; everything else fails at once. */
  retryable: (err: unknown) => boolean;
  /** Total time budget; the last error is thrown when it runs out. */
  maxElapsedMs: number;
  /** At most this many attempts in all (default: as many as the time budget allows). */
  maxAttempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Told before each wait: which attempt failed, why, and how long until the next. */
  onRetry?: (info: { attempt: number; error: unknown; delayMs: number; elapsedMs: number }) => void;
  /** A server's Retry-After, when the error carries one, replaces the computed delay. */
  retryAfterMs?: (err: unknown) => number | undefined;
  signal?: AbortSignal;
}

/** Capped exponential backoff with full jitter, for named transient conditions only. */
export async function retry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const started = Date.now();
  const initial = options.initialDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 8000;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await operation(attempt);
    } catch (err) {
      const elapsedMs = Date.now() - started;
      if (!options.retryable(err) || elapsedMs >= options.maxElapsedMs || attempt >= (options.maxAttempts ?? Infinity)) throw err;
      const backoff = Math.min(cap, initial * 2 ** (attempt - 1));
      const jittered = backoff / 2 + Math.random() * (backoff / 2);
      const delayMs = Math.min(options.retryAfterMs?.(err) ?? jittered, options.maxElapsedMs - elapsedMs);
      options.onRetry?.({ attempt, error: err, delayMs, elapsedMs });
      await sleep(Math.max(0, delayMs), undefined, { signal: options.signal });
    }
  }
}
