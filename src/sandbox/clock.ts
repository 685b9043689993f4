/**
 * The sandbox's time: real time plus an offset that only moves forward. Everything in the sandbox that issues,
 * checks or rotates a credential asks this clock, so a test (or `podid sandbox clock advance`) can make an hour
 * pass at once: tokens expire, the kubelet rotates projected tokens, Entra ID refuses expired assertions, all as
 * they would after a real hour. Clients outside the sandbox keep the real time, as clients of a skewed cloud do.
 */
/**
 * How far ahead of real time the sandbox clock may run: 10 years. Every time it gives out (tokens' iat/exp, RFC 3339
 * timestamps of the API server and Entra ID) stays an ordinary date that every client parses; far beyond, dates
 * stop being representable and nothing could issue a token again (the offset is kept with the sandbox's state).
 */
export const MAX_CLOCK_OFFSET_SECONDS = 10 * 365 * 24 * 3600;

/** Why the clock may not move `seconds` forward from `offsetSeconds` ahead, or undefined when it may. */
export function clockAdvanceRefusal(offsetSeconds: number, seconds: number): string | undefined {
  if (!Number.isFinite(seconds) || seconds < 0) return "the clock only moves forward: seconds must be a number >= 0";
  if (offsetSeconds + seconds <= MAX_CLOCK_OFFSET_SECONDS) return undefined;
  return `the sandbox clock runs at most ${MAX_CLOCK_OFFSET_SECONDS} seconds (10 years) ahead of real time and is ${offsetSeconds} ahead: advance it by at most ${Math.max(0, MAX_CLOCK_OFFSET_SECONDS - offsetSeconds)}`;
}

export class SandboxClock {
  private readonly listeners = new Set<() => void>();

  private offsetMs: number;

  /** A stored offset beyond the limit (kept by a sandbox from before it existed) is taken as the limit. */
  constructor(offsetMs = 0) {
    this.offsetMs = Math.min(Math.max(0, offsetMs), MAX_CLOCK_OFFSET_SECONDS * 1000) || 0;
  }

  /** Epoch milliseconds. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  get offsetSeconds(): number {
    return this.offsetMs / 1000;
  }

  /** Moves time forward and tells everyone who waits on it (the kubelet's token rotation). */
  advance(seconds: number): void {
    const refusal = clockAdvanceRefusal(this.offsetSeconds, seconds);
    if (refusal) throw new RangeError(refusal);
    this.offsetMs += seconds * 1000;
    for (const listener of [...this.listeners]) listener();
  }

  /** Calls `listener` after every advance; returns the function that stops it. */
  onAdvance(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
