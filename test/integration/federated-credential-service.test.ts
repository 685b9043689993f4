import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ADMIN_KEY_HEADER } from "../../src/sandbox/azure/admin.js";
import { FederatedCredentialService } from "../../src/azure/federated-credentials.js";
import { PodidError } from "../../src/errors/index.js";
import { productSession, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { eventually } from "../helpers/eventually.js";

/**
 * podid's federated credential operations (src/azure/federated-credentials.ts) against the sandbox ARM, through
 * @azure/arm-msi: writes to one identity serialized within podid, and a 409 from another writer or a 429 retried
 * until they go through; the state checked with the SDK's own list.
 */

const ISSUER = "https://oidc.example.test/tenant/cluster/";
const value = (subject: string) => ({ issuer: ISSUER, subject, audiences: ["api://AzureADTokenExchange"] });

let sb: AzureSandbox;
before(async () => {
  sb = await startAzureSandbox({ nodes: 1 });
});
after(async () => sb?.close());

async function newIdentity() {
  const name = `id-${randomUUID().slice(0, 8)}`;
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, name, { location: "eastus" });
  return { name, id: created.id! };
}

async function names(identity: string): Promise<string[]> {
  const out: string[] = [];
  for await (const c of sb.clients.msi.federatedIdentityCredentials.list(sb.seed.resourceGroup, identity)) out.push(c.name!);
  return out.sort();
}

async function admin(path: string, method: string, body: unknown): Promise<void> {
  const res = await sb.raw(`${sb.cloud.endpoints.arm}/.sandbox/${path}`, { method, headers: { [ADMIN_KEY_HEADER]: sb.cloud.adminKey }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, res.text);
}

test("writes to one identity are serialized: many at once all land, none refused", async () => {
  const identity = await newIdentity();
  const service = new FederatedCredentialService(productSession(sb));
  const results = await Promise.all(["a", "b", "c", "d"].map((n) => service.put(identity.id, `cred-${n}`, value(`system:serviceaccount:ns:${n}`))));
  assert.deepEqual(results.map((r) => r.created), [true, true, true, true]);
  assert.deepEqual(await names(identity.name), ["cred-a", "cred-b", "cred-c", "cred-d"]);
  const again = await service.put(identity.id, "cred-a", value("system:serviceaccount:ns:a"));
  assert.equal(again.created, false);
  assert.deepEqual((await service.list(identity.id)).map((c) => [c.name, c.subject]).sort(), [
    ["cred-a", "system:serviceaccount:ns:a"],
    ["cred-b", "system:serviceaccount:ns:b"],
    ["cred-c", "system:serviceaccount:ns:c"],
    ["cred-d", "system:serviceaccount:ns:d"],
  ]);
  assert.equal(await service.delete(identity.id, "cred-b"), true);
  assert.equal(await service.delete(identity.id, "cred-b"), false, "already gone");
  assert.deepEqual(await names(identity.name), ["cred-a", "cred-c", "cred-d"]);
});

test("a 409 from another writer (another podid, az) is retried until the identity is free; the write lands", async () => {
  await admin("settings", "PATCH", { federatedCredentialWriteMs: 3000 });
  try {
    const identity = await newIdentity();
    const retries: string[] = [];
    const fic = sb.clients.msi.federatedIdentityCredentials;
    // Someone else (az) writes a credential of the identity; once a probe write is refused with 409, it holds it.
    const foreign = fic.createOrUpdate(sb.seed.resourceGroup, identity.name, "by-az", value("system:serviceaccount:ns:az"));
    await eventually("the other writer holds the identity", async () => {
      const probe = await fic.createOrUpdate(sb.seed.resourceGroup, identity.name, "probe", value("system:serviceaccount:ns:probe")).then(() => 201, (err: { statusCode?: number }) => err.statusCode);
      return probe === 409;
    });
    const service = new FederatedCredentialService(productSession(sb), { onRetry: (m) => retries.push(m) });
    const { created } = await service.put(identity.id, "mine", value("system:serviceaccount:ns:mine"));
    await foreign;
    assert.equal(created, true);
    assert.ok((await names(identity.name)).includes("mine"));
    assert.ok(retries.some((r) => /^writing federated credential mine of id-\w+: 409 ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity; retrying in/.test(r)), JSON.stringify(retries));
  } finally {
    await admin("settings", "PATCH", { federatedCredentialWriteMs: 200 });
  }
});

test("throttling (429 with Retry-After) and 503 are retried; an identity that does not exist is NotFound", async () => {
  const identity = await newIdentity();
  await admin("faults", "POST", { service: "arm", method: "PUT", path: "*/federatedIdentityCredentials/*", status: 429, retryAfterSeconds: 0, count: 4 });
  await admin("faults", "POST", { service: "arm", method: "PUT", path: "*/federatedIdentityCredentials/*", status: 503, count: 2 });
  const service = new FederatedCredentialService(productSession(sb));
  const { created } = await service.put(identity.id, "throttled", value("system:serviceaccount:ns:t"));
  assert.equal(created, true);
  assert.deepEqual(await names(identity.name), ["throttled"]);
  assert.deepEqual(sb.cloud.state.faults, [], "every fault was met");
  await assert.rejects(service.list(identity.id.replace(identity.name, "nobody")), (err: unknown) => err instanceof PodidError && err.code === "IdentityNotFound" && err.exitCode === 3);
});
