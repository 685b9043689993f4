/**
 * Waiting on conditions, never on the clock: poll until `check` holds (returns anything but false without
 * throwing), or fail after `timeoutMs` with the last reason. The timeout is a bound on a condition, not a timing.
 */
export async function eventually(check: () => unknown, what: string, timeoutMs = 15_000, pollMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      if ((await check()) !== false) return;
      last = "still false";
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${last}`);
    await new Promise((r) => setTimeout(r, pollMs));
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

/**
 * Re-checks a condition until it holds (every `intervalMs`), failing with `what` after `timeoutMs`: for effects
 * that land asynchronously (a watch cache catching up), never a fixed sleep.
 */
export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
