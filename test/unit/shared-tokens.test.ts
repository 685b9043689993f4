import { test } from "node:test";
import assert from "node:assert/strict";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";
import { sharingTokens } from "../../src/azure/credential.js";

/** A credential whose token requests the test answers by hand, counting them. */
function handAnswered() {
  const pending: ((t: AccessToken) => void)[] = [];
  const seen: (GetTokenOptions | undefined)[] = [];
  const credential: TokenCredential = {
    getToken: (_scopes, options) => {
      seen.push(options);
      return new Promise<AccessToken>((resolve) => pending.push(resolve));
    },
  };
  return { credential, pending, seen };
}

const token = (value: string): AccessToken => ({ token: value, expiresOnTimestamp: Date.now() + 3_600_000 });

test("callers asking together share one token request; one caller's abort ends only its own wait", async () => {
  const { credential, pending, seen } = handAnswered();
  const shared = sharingTokens(credential);
  const first = new AbortController();
  const a = shared.getToken("https://management.azure.com/.default", { abortSignal: first.signal });
  const b = shared.getToken("https://management.azure.com/.default", {});
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pending.length, 1, "one request for both");
  assert.equal(seen[0]?.abortSignal, undefined, "the shared request carries no caller's signal");
  first.abort();
  await assert.rejects(a, { name: "AbortError" });
  pending[0](token("t1"));
  assert.equal((await b)?.token, "t1", "the other caller still gets the token");
  assert.equal((await shared.getToken("https://management.azure.com/.default"))?.token, "t1", "and later callers the same one");
  assert.equal(pending.length, 1);
});

test("a caller whose signal is already aborted is refused at once; another scope is its own request", async () => {
  const { credential, pending } = handAnswered();
  const shared = sharingTokens(credential);
  const done = new AbortController();
  done.abort();
  await assert.rejects(shared.getToken("s1", { abortSignal: done.signal }), { name: "AbortError" });
  const other = shared.getToken("s2");
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pending.length, 2, "s1's request (still shared for later callers) and s2's");
  pending.forEach((answer, i) => answer(token(`t${i}`)));
  assert.equal((await other)?.token, "t1");
});

test("a failed request is not kept, a token near its expiry is asked for again, and claims or a tenant go straight through", async () => {
  const answers: ((t: AccessToken | Error) => void)[] = [];
  const credential: TokenCredential = {
    getToken: () => new Promise<AccessToken>((resolve, reject) => answers.push((t) => (t instanceof Error ? reject(t) : resolve(t)))),
  };
  const shared = sharingTokens(credential);
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  const failing = shared.getToken("s");
  await settle();
  answers[0](new Error("AADSTS7000215: invalid client secret"));
  await assert.rejects(failing, /AADSTS7000215/);
  const retried = shared.getToken("s");
  await settle();
  assert.equal(answers.length, 2, "the failure was not kept: a new request");
  answers[1]({ token: "near-expiry", expiresOnTimestamp: Date.now() + 60_000 });
  assert.equal((await retried)?.token, "near-expiry");

  const refreshed = shared.getToken("s");
  await settle();
  assert.equal(answers.length, 3, "a token within the refresh margin is asked for again");
  answers[2](token("fresh"));
  assert.equal((await refreshed)?.token, "fresh");
  assert.equal((await shared.getToken("s"))?.token, "fresh", "and the fresh one is shared");
  assert.equal(answers.length, 3);

  const challenged = shared.getToken("s", { claims: '{"access_token":{"nbf":{"essential":true}}}' });
  const otherTenant = shared.getToken("s", { tenantId: "other" });
  await settle();
  assert.equal(answers.length, 5, "claims and another tenant are each their own request");
  answers[3](token("with-claims"));
  answers[4](token("other-tenant"));
  assert.equal((await challenged)?.token, "with-claims");
  assert.equal((await otherTenant)?.token, "other-tenant");
  assert.equal((await shared.getToken("s"))?.token, "fresh", "neither replaced the shared token");
});
