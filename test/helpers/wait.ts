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
