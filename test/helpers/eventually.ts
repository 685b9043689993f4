import assert from "node:assert/strict";

/**
 * Waits on a condition instead of a fixed sleep: reads until `ok` holds, and fails naming what was awaited and the
 * last value seen (keep secrets out of what `read` returns).
 */
export async function eventually<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms; last seen: ${JSON.stringify(last, null, 1).slice(0, 3000)}`);
    await new Promise((r) => setTimeout(r, 250));
    last = await read();
  }
  return last;
}
