/** A write refused because the instance making it no longer holds the leader lease (fencing). */
export class NotLeaderError extends Error {
  constructor(who: string) {
    super(`${who} is no longer the leader`);
    this.name = "NotLeaderError";
  }
}

/**
 * True when the failure (or what it wraps) means the work was called off, not that it failed: an abort of its
 * signal, or a write fenced off after leadership ended. Such failures are not reported as errors of the work.
 */
export function isCancellation(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof NotLeaderError || e.name === "AbortError") return true;
  }
  return typeof DOMException !== "undefined" && err instanceof DOMException && err.name === "AbortError";
}
