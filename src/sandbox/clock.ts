/**
 * The sandbox's time: real time plus an offset that only moves forward. Everything in the sandbox that issues,
 * checks or rotates a credential asks this clock, so a test (or `podid sandbox clock advance`) can make an hour
 * pass at once: tokens expire, the kubelet rotates projected tokens, Entra ID refuses expired assertions, all as
 * they would after a real hour. Clients outside the sandbox keep the real time, as clients of a skewed cloud do.
 */
export class SandboxClock {
  private readonly listeners = new Set<() => void>();

  constructor(private offsetMs = 0) {}

  /** Epoch milliseconds. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  get offsetSeconds(): number {
    return this.offsetMs / 1000;
  }

  /** Moves time forward and tells everyone who waits on it (the kubelet's token rotation). */
  advance(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError("the clock only moves forward: seconds must be a number >= 0");
    this.offsetMs += seconds * 1000;
    for (const listener of [...this.listeners]) listener();
  }

  /** Calls `listener` after every advance; returns the function that stops it. */
  onAdvance(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
