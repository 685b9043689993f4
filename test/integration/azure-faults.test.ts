import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { assertArmError, rejectsWithArmError, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { ArmErrors } from "../../src/sandbox/azure/arm-errors.js";
import { API_VERSIONS } from "../../src/sandbox/azure/api-versions.js";
import { ADMIN_KEY_HEADER } from "../../src/sandbox/azure/admin.js";
import { eventually } from "../helpers/eventually.js";

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities";

let sb: AzureSandbox;
before(async () => {
  sb = await startAzureSandbox({ nodes: 1 });
});
after(async () => {
  await sb?.close();
});

const groupPath = () => `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.resourceGroup}`;
const identityPath = (name: string, version = "2023-01-31") => `${groupPath()}/providers/${IDENTITY_TYPE}/${name}?api-version=${version}`;
const readerId = () => `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`;

test("bad requests get ARM's error shapes, and the sandbox keeps serving", async () => {
  const name = `id-${randomUUID().slice(0, 8)}`;
  const body = JSON.stringify({ location: "eastus" });
  assertArmError(await sb.arm("PUT", `${groupPath()}/providers/${IDENTITY_TYPE}/${name}`, { body }), ArmErrors.missingApiVersion());
  assertArmError(await sb.arm("PUT", identityPath(name, "2010-01-01"), { body }), ArmErrors.invalidApiVersion("2010-01-01", API_VERSIONS.identities.type, API_VERSIONS.identities.known));
  assertArmError(await sb.arm("PUT", identityPath(name), { body: "{not json" }), ArmErrors.invalidRequestContent(jsonError("{not json")));
  assertArmError(await sb.arm("PUT", identityPath(name), { body, headers: { "content-type": "text/plain" } }), ArmErrors.unsupportedMediaType("text/plain"));
  assertArmError(await sb.arm("PUT", identityPath("bad.name"), { body }), ArmErrors.invalidResourceName("bad.name"));
  assertArmError(await sb.arm("PUT", `/subscriptions/${sb.subscriptionId}/resourcegroups/bad*name?api-version=2021-04-01`, { body }), ArmErrors.invalidResourceGroupName("bad*name", "*"));
  assertArmError(await sb.arm("GET", `/subscriptions/not-a-guid/resourceGroups/x?api-version=2021-04-01`), ArmErrors.invalidSubscriptionId("not-a-guid"));
  assertArmError(await sb.arm("GET", `${groupPath()}/providers/Microsoft.Nope/things/x?api-version=2021-04-01`), ArmErrors.invalidResourceNamespace("Microsoft.Nope"));
  assertArmError(await sb.arm("GET", `${groupPath()}/providers/Microsoft.Compute/gizmos/x?api-version=2024-07-01`), ArmErrors.invalidResourceType("Microsoft.Compute", "gizmos", "2024-07-01"));
  assertArmError(await sb.arm("DELETE", `/subscriptions/${sb.subscriptionId}?api-version=2022-12-01`), ArmErrors.methodNotAllowed("DELETE"));

  // Malformed ids inside bodies.
  const kubelet = await sb.clients.msi.userAssignedIdentities.get(sb.seed.nodeResourceGroup, sb.seed.kubeletIdentityName);
  const assignment = `${groupPath()}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`;
  const bareGuid = JSON.stringify({ properties: { roleDefinitionId: READER, principalId: kubelet.principalId } });
  assertArmError(await sb.arm("PUT", assignment, { body: bareGuid }), ArmErrors.linkedInvalidPropertyId(READER, "properties.roleDefinitionId"));
  const vmss = `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.nodeResourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${sb.seed.vmssName}?api-version=2024-07-01`;
  const badKey = JSON.stringify({ identity: { type: "UserAssigned", userAssignedIdentities: { "not-an-id": {} } } });
  assertArmError(await sb.arm("PATCH", vmss, { body: badKey }), ArmErrors.linkedInvalidPropertyId("not-an-id", "identity.userAssignedIdentities"));

  const created = await sb.arm("PUT", identityPath(name, "2018-11-30"), { body });
  assert.equal(created.status, 201, created.text);
  assert.equal((await sb.arm("PUT", identityPath(name, "2015-08-31-preview"), { body })).status, 200);
  assert.equal((await sb.arm("DELETE", identityPath(name))).status, 200);
  assert.equal((await sb.arm("DELETE", identityPath(name))).status, 204);
});

/** The message V8 gives for a JSON parse failure, which the sandbox quotes. */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
    return "";
  } catch (err) {
    return (err as Error).message;
  }
}

test("a 429 with Retry-After is retried by the SDK and then succeeds", async () => {
  const kubeletPath = `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.nodeResourceGroup}/providers/${IDENTITY_TYPE}/${sb.seed.kubeletIdentityName}`;
  sb.cloud.setFaults([{ id: "throttle", service: "arm", method: "GET", path: kubeletPath, status: 429, retryAfterSeconds: 1, count: 1 }]);
  const raw = await sb.arm("GET", `${kubeletPath}?api-version=2023-01-31`);
  assertArmError(raw, ArmErrors.tooManyRequests(1));
  assert.equal(raw.headers["retry-after"], "1");

  sb.cloud.setFaults([{ id: "throttle", service: "arm", method: "GET", path: kubeletPath.toLowerCase(), status: 429, retryAfterSeconds: 1, count: 1 }]);
  const kubelet = await sb.clients.msi.userAssignedIdentities.get(sb.seed.nodeResourceGroup, sb.seed.kubeletIdentityName);
  assert.equal(kubelet.name, sb.seed.kubeletIdentityName);
  assert.deepEqual(sb.cloud.state.faults, [], "a counted rule is gone once used up: the SDK got the 429, then retried");
});

test("faults and settings can be switched at run time through the admin route, with the admin key only", async () => {
  const admin = (method: string, path: string, body?: unknown, key = sb.cloud.adminKey) =>
    sb.raw(`${sb.cloud.endpoints.arm}${path}`, { method, headers: { [ADMIN_KEY_HEADER]: key }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.equal((await admin("GET", "/.sandbox/faults", undefined, "wrong")).status, 401);
  const set = await admin("PUT", "/.sandbox/faults", [{ service: "arm", method: "GET", path: "/subscriptions", status: 503, count: 1 }]);
  assert.equal(set.status, 200, set.text);
  const res = await sb.arm("GET", "/subscriptions?api-version=2022-12-01");
  assert.equal(res.status, 503);
  assert.equal((res.json as { error: { code: string } }).error.code, "ServiceUnavailable");
  assert.equal((await sb.arm("GET", "/subscriptions?api-version=2022-12-01")).status, 200);
  assert.equal((await admin("PUT", "/.sandbox/faults", [{ path: "x", status: 200 }])).status, 400, "only fault statuses are accepted");
  assert.equal((await admin("DELETE", "/.sandbox/faults")).status, 200);
  const settings = await admin("PUT", "/.sandbox/settings", { replicationDelaySeconds: 0 });
  assert.deepEqual(settings.json, { replicationDelaySeconds: 0, federationDelaySeconds: 0, federatedCredentialWriteMs: 200, clockOffsetSeconds: 0 });
  assert.equal((await admin("PATCH", "/.sandbox/settings", { federationDelaySeconds: -1 })).status, 400, "delays are numbers >= 0");
  assert.equal((await admin("PATCH", "/.sandbox/settings", { clockOffsetSeconds: 5 })).status, 400, "the clock moves only through its own route");
});

test("replication delay: a new identity is PrincipalNotFound to role assignment until it has replicated", async () => {
  sb.cloud.setReplicationDelay(1.5);
  try {
    const identity = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, `id-${randomUUID().slice(0, 8)}`, { location: "eastus" });
    const scope = `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.resourceGroup}`;
    const params = { roleDefinitionId: readerId(), principalId: identity.principalId!, principalType: "ServicePrincipal" };
    await rejectsWithArmError(sb.clients.authorization.roleAssignments.create(scope, randomUUID(), params), ArmErrors.principalNotFound(identity.principalId!, sb.cloud.cliCredential.tenantId));
    const created = await eventually("the principal to replicate", () => sb.clients.authorization.roleAssignments.create(scope, randomUUID(), params), { intervalMs: 200 });
    assert.equal(created.principalId, identity.principalId);
  } finally {
    sb.cloud.setReplicationDelay(0);
  }
});

test("state survives close() and a new start on the same dir; state and keys are 0600", async () => {
  const name = `id-${randomUUID().slice(0, 8)}`;
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, name, { location: "eastus" });
  await sb.restart();
  for (const file of ["azure.json", "signing-key.json", "admin-key"]) {
    assert.equal(statSync(join(sb.dir, "state", file)).mode & 0o777, 0o600, file);
  }
  // The same credential's cached token still verifies: the signing key persisted.
  const again = await sb.clients.msi.userAssignedIdentities.get(sb.seed.resourceGroup, name);
  assert.equal(again.clientId, created.clientId);
  assert.equal(sb.cloud.seed.vmssName, sb.seed.vmssName);
});
