import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rejectsWithArmError, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { ArmErrors } from "../../src/sandbox/azure/arm-errors.js";

let sb: AzureSandbox;
before(async () => {
  sb = await startAzureSandbox();
});
after(async () => {
  await sb?.close();
});

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

test("create, get, update tags, list and delete a user-assigned identity (arm-msi 2.2.0)", async () => {
  const { msi } = sb.clients;
  const rg = sb.seed.resourceGroup;
  const name = unique("id");
  const created = await msi.userAssignedIdentities.createOrUpdate(rg, name, { location: "eastus", tags: { app: "x" } });
  assert.equal(created.name, name);
  assert.equal(created.type, "Microsoft.ManagedIdentity/userAssignedIdentities");
  assert.match(created.clientId!, /^[0-9a-f-]{36}$/);
  assert.match(created.principalId!, /^[0-9a-f-]{36}$/);
  assert.equal(created.tenantId, sb.cloud.cliCredential.tenantId);
  assert.equal(created.id, `/subscriptions/${sb.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`);

  const again = await msi.userAssignedIdentities.createOrUpdate(rg, name, { location: "eastus" });
  assert.equal(again.clientId, created.clientId, "a second PUT keeps the identity");

  const got = await msi.userAssignedIdentities.get(rg, name.toUpperCase());
  assert.equal(got.principalId, created.principalId, "ids compare case-insensitively");

  const patched = await msi.userAssignedIdentities.update(rg, name, { tags: { app: "y" } });
  assert.deepEqual(patched.tags, { app: "y" });

  const inGroup = [];
  for await (const i of msi.userAssignedIdentities.listByResourceGroup(rg)) inGroup.push(i.name);
  assert.ok(inGroup.includes(name));
  const inSub = [];
  for await (const i of msi.userAssignedIdentities.listBySubscription()) inSub.push(i.name);
  assert.ok(inSub.includes(name) && inSub.includes(sb.seed.kubeletIdentityName));

  assert.ok(sb.cloud.state.principals[created.principalId!], "creating an identity creates its service principal");
  await msi.userAssignedIdentities.delete(rg, name);
  assert.equal(sb.cloud.state.principals[created.principalId!], undefined, "deleting it removes the principal");
  await rejectsWithArmError(msi.userAssignedIdentities.get(rg, name), ArmErrors.resourceNotFound(`Microsoft.ManagedIdentity/userAssignedIdentities/${name}`, rg));
  await msi.userAssignedIdentities.delete(rg, name); // 204: deleting what is gone succeeds
});

test("identity names and resource groups are validated as ARM does", async () => {
  const { msi } = sb.clients;
  await rejectsWithArmError(msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, "a", { location: "eastus" }), ArmErrors.invalidResourceName("a"));
  await rejectsWithArmError(msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, "-bad-start", { location: "eastus" }), ArmErrors.invalidResourceName("-bad-start"));
  await rejectsWithArmError(msi.userAssignedIdentities.createOrUpdate("no-such-group", unique("id"), { location: "eastus" }), ArmErrors.resourceGroupNotFound("no-such-group"));
});

test("resource groups: create, get, check existence, list, delete cascades to resources and role assignments", async () => {
  const path = (rg: string) => `/subscriptions/${sb.subscriptionId}/resourcegroups/${rg}?api-version=2021-04-01`;
  const groups = {
    put: (rg: string, body: object) => sb.arm("PUT", path(rg), { body: JSON.stringify(body) }),
    head: (rg: string) => sb.arm("HEAD", path(rg)),
    delete: (rg: string) => sb.arm("DELETE", path(rg)),
    list: () => sb.arm("GET", `/subscriptions/${sb.subscriptionId}/resourcegroups?api-version=2021-04-01`),
  };
  const name = unique("rg");
  const created = await groups.put(name, { location: "westeurope", tags: { t: "1" } });
  assert.equal(created.status, 201);
  assert.equal((created.json as { properties: { provisioningState: string } }).properties.provisioningState, "Succeeded");
  assert.equal((await groups.put(name, { location: "westeurope" })).status, 200);
  assert.equal((await groups.head(name)).status, 204);
  assert.equal((await groups.head(unique("rg"))).status, 404);
  const listed = (await groups.list()).json as { value: { name: string }[] };
  assert.ok(listed.value.some((g) => g.name === name));

  const identity = await sb.clients.msi.userAssignedIdentities.createOrUpdate(name, unique("id"), { location: "westeurope" });
  const scope = `/subscriptions/${sb.subscriptionId}/resourceGroups/${name}`;
  const readerId = `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
  await sb.clients.authorization.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: readerId, principalId: identity.principalId!, principalType: "ServicePrincipal" });

  assert.equal((await groups.delete(name)).status, 200);
  assert.equal((await groups.head(name)).status, 404);
  assert.equal(Object.values(sb.cloud.state.resources).filter((r) => r.id.toLowerCase().startsWith(scope.toLowerCase())).length, 0);
  assert.equal(Object.values(sb.cloud.state.roleAssignments).filter((a) => a.properties.scope.toLowerCase().startsWith(scope.toLowerCase())).length, 0);
});

test("the subscription is listed and readable by its Owner", async () => {
  const res = await sb.raw(`${sb.cloud.endpoints.arm}/subscriptions?api-version=2022-12-01`, { headers: { authorization: `Bearer ${await sb.armToken()}` } });
  assert.equal(res.status, 200);
  const subs = (res.json as { value: { subscriptionId: string; tenantId: string; state: string }[] }).value;
  assert.deepEqual(subs.map((s) => s.subscriptionId), [sb.subscriptionId]);
  assert.equal(subs[0].state, "Enabled");

  assert.ok(res.headers["x-ms-request-id"], "ARM's request id header");

  const resources = await sb.arm("GET", `/subscriptions/${sb.subscriptionId}/resources?api-version=2021-04-01`);
  const types = (resources.json as { value: { type: string }[] }).value.map((r) => r.type);
  for (const t of ["Microsoft.ContainerService/managedClusters", "Microsoft.Compute/virtualMachineScaleSets", "Microsoft.ManagedIdentity/userAssignedIdentities"]) assert.ok(types.includes(t), t);
  const inNodeGroup = await sb.arm("GET", `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.nodeResourceGroup}/resources?api-version=2021-04-01&$filter=${encodeURIComponent("resourceType eq 'Microsoft.Compute/virtualMachineScaleSets'")}`);
  assert.deepEqual((inNodeGroup.json as { value: { name: string }[] }).value.map((r) => r.name), [sb.seed.vmssName]);
});
