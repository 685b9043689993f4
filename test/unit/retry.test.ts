import { test } from "node:test";
import assert from "node:assert/strict";
import { retry } from "../../src/util/retry.js";

class Transient extends Error {}

test("retries only what is transient, then succeeds", async () => {
  let calls = 0;
  const seen: number[] = [];
  const out = await retry(
    async () => {
      calls++;
      if (calls < 3) throw new Transient("busy");
      return "done";
    },
    { retryable: (e) => e instanceof Transient, maxElapsedMs: 5000, initialDelayMs: 1, onRetry: (i) => seen.push(i.attempt) },
  );
  assert.equal(out, "done");
  assert.equal(calls, 3);
  assert.deepEqual(seen, [1, 2]);
});

test("a permanent error fails at once", async () => {
  let calls = 0;
  await assert.rejects(
    retry(async () => { calls++; throw new Error("bad request"); }, { retryable: (e) => e instanceof Transient, maxElapsedMs: 5000 }),
    /bad request/,
  );
  assert.equal(calls, 1);
});

test("the last error is returned when the time budget runs out", async () => {
  let calls = 0;
  await assert.rejects(
    retry(async () => { calls++; throw new Transient(`attempt ${calls}`); }, { retryable: () => true, maxElapsedMs: 60, initialDelayMs: 5, maxDelayMs: 10 }),
    (e: unknown) => e instanceof Transient && e.message === `attempt ${calls}`,
  );
  assert.ok(calls >= 2);
});

test("a server's Retry-After replaces the computed delay", async () => {
  const delays: number[] = [];
  let calls = 0;
  await retry(async () => { if (++calls === 1) throw new Transient("429"); return 1; }, {
    retryable: () => true,
    maxElapsedMs: 5000,
    initialDelayMs: 1000,
    retryAfterMs: () => 7,
    onRetry: (i) => delays.push(i.delayMs),
  });
  assert.deepEqual(delays, [7]);
});
