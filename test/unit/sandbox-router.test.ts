import { test } from "node:test";
import assert from "node:assert/strict";
import { Router } from "../../src/sandbox/http/router.js";
import type { SandboxRequest } from "../../src/sandbox/http/types.js";

function request(method: string, path: string): SandboxRequest {
  return {
    method,
    path,
    query: new URLSearchParams(),
    headers: {},
    body: Buffer.alloc(0),
    remoteAddress: "127.0.0.1",
    localPort: 0,
    params: {},
    signal: new AbortController().signal,
  };
}

test("literal segments match case-insensitively and params capture decoded segments", async () => {
  const router = new Router().add("GET", "/subscriptions/{sub}/resourceGroups/{rg}", (r) => ({ status: 200, body: r.params }));
  const h = router.handler({ notFound: () => ({ status: 404 }) });
  const out = await h(request("GET", "/SUBSCRIPTIONS/s1/resourcegroups/my%20rg"));
  assert.deepEqual(out.body, { sub: "s1", rg: "my rg" });
});

test("a {rest*} segment captures a whole ARM scope of any depth", async () => {
  const router = new Router().add("PUT", "{scope*}/providers/Microsoft.Authorization/roleAssignments/{name}", (r) => ({ status: 201, body: r.params }));
  const h = router.handler({ notFound: () => ({ status: 404 }) });
  const deep = await h(request("PUT", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1/providers/Microsoft.Authorization/roleAssignments/n1"));
  assert.deepEqual(deep.body, {
    scope: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1",
    name: "n1",
  });
});

test("wrong method and unknown path reach their own fallbacks", async () => {
  const router = new Router().add("GET", "/a", () => ({ status: 200 }));
  const h = router.handler({ notFound: () => ({ status: 404 }), methodNotAllowed: () => ({ status: 405 }) });
  assert.equal((await h(request("DELETE", "/a"))).status, 405);
  assert.equal((await h(request("GET", "/b"))).status, 404);
});
