import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { RoleAssignment as SdkRoleAssignment } from "@azure/arm-authorization";
import { assertArmError, rejectsWithArmError, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { ArmErrors } from "../../src/sandbox/azure/arm-errors.js";

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const MI_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830";

let sb: AzureSandbox;
let sub: string;
let rg: string;
before(async () => {
  sb = await startAzureSandbox();
  sub = `/subscriptions/${sb.subscriptionId}`;
  rg = `${sub}/resourceGroups/${sb.seed.resourceGroup}`;
});
after(async () => {
  await sb?.close();
});

const roleId = (guid: string) => `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

async function newIdentity(): Promise<{ id: string; principalId: string; name: string }> {
  const name = `id-${randomUUID().slice(0, 8)}`;
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, name, { location: "eastus" });
  return { id: created.id!, principalId: created.principalId!, name };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

test("built-in role definitions carry their real ids and permissions", async () => {
  const { roleDefinitions } = sb.clients.authorization;
  const reader = await roleDefinitions.get(sub, READER);
  assert.equal(reader.roleName, "Reader");
  assert.equal(reader.id, roleId(READER), "asked at a subscription, the id is subscription-scoped");
  assert.equal(reader.roleType, "BuiltInRole");
  assert.deepEqual(reader.permissions?.[0].actions, ["*/read"]);

  const byName = await collect(roleDefinitions.list(rg, { filter: "roleName eq 'Managed Identity Operator'" }));
  assert.equal(byName.length, 1);
  assert.equal(byName[0].name, MI_OPERATOR);
  assert.ok(byName[0].permissions?.[0].actions?.includes("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"));

  const builtIns = await collect(roleDefinitions.list(sub, { filter: "type eq 'BuiltInRole'" }));
  for (const guid of [READER, CONTRIBUTOR, MI_OPERATOR, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"]) {
    assert.ok(builtIns.some((r) => r.name === guid), guid);
  }
  const contributor = await roleDefinitions.getById(roleId(CONTRIBUTOR));
  assert.ok(contributor.permissions?.[0].notActions?.includes("Microsoft.Authorization/*/Write"));
  const missing = randomUUID();
  await rejectsWithArmError(roleDefinitions.get(sub, missing), ArmErrors.roleDefinitionDoesNotExist(missing));
});

test("assign a role: 201, same again is idempotent, same triple under another name is 409, same name other role is refused", async () => {
  const { roleAssignments } = sb.clients.authorization;
  const identity = await newIdentity();
  const name = randomUUID();
  const created = await roleAssignments.create(rg, name, { roleDefinitionId: roleId(READER), principalId: identity.principalId, principalType: "ServicePrincipal" });
  assert.equal(created.name, name);
  assert.equal(created.scope, rg);
  assert.equal(created.principalType, "ServicePrincipal");
  assert.equal(created.roleDefinitionId, roleId(READER));

  const again = await roleAssignments.create(rg, name, { roleDefinitionId: roleId(READER), principalId: identity.principalId });
  assert.equal(again.id, created.id);

  await rejectsWithArmError(roleAssignments.create(rg, randomUUID(), { roleDefinitionId: roleId(READER), principalId: identity.principalId }), ArmErrors.roleAssignmentExists());
  await rejectsWithArmError(roleAssignments.create(rg, name, { roleDefinitionId: roleId(CONTRIBUTOR), principalId: identity.principalId }), ArmErrors.roleAssignmentUpdateNotPermitted());

  const got = await roleAssignments.getById(created.id!);
  assert.equal(got.principalId, identity.principalId);
  const deleted = await roleAssignments.delete(rg, name);
  assert.equal(deleted.id, created.id);
  await roleAssignments.delete(rg, name);
  await rejectsWithArmError(roleAssignments.get(rg, name), ArmErrors.roleAssignmentNotFound(name));
  const absent = await sb.arm("DELETE", `${rg}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`);
  assert.equal(absent.status, 204, "deleting an absent assignment answers 204");
});

test("assignment names must be GUIDs and principals must exist", async () => {
  const { roleAssignments } = sb.clients.authorization;
  await rejectsWithArmError(roleAssignments.create(rg, "not-a-guid", { roleDefinitionId: roleId(READER), principalId: randomUUID() }), ArmErrors.invalidRoleAssignmentId("not-a-guid"));
  const ghost = randomUUID();
  await rejectsWithArmError(
    roleAssignments.create(rg, randomUUID(), { roleDefinitionId: roleId(READER), principalId: ghost, principalType: "ServicePrincipal" }),
    ArmErrors.principalNotFound(ghost, sb.cloud.cliCredential.tenantId),
  );
  const identity = await newIdentity();
  const missingRole = randomUUID();
  await rejectsWithArmError(roleAssignments.create(rg, randomUUID(), { roleDefinitionId: roleId(missingRole), principalId: identity.principalId }), ArmErrors.roleDefinitionDoesNotExist(missingRole, 400));
});

test("list: at a scope shows assignments above and below it; atScope() only at and above; principalId and assignedTo filter", async () => {
  const { roleAssignments } = sb.clients.authorization;
  const identity = await newIdentity();
  const atGroup = await roleAssignments.create(rg, randomUUID(), { roleDefinitionId: roleId(READER), principalId: identity.principalId });
  const atIdentity = await roleAssignments.create(identity.id, randomUUID(), { roleDefinitionId: roleId(MI_OPERATOR), principalId: identity.principalId });
  const ids = (items: SdkRoleAssignment[]) => items.map((a) => a.id);

  const forGroup = await collect(roleAssignments.listForScope(rg));
  assert.ok(ids(forGroup).includes(atGroup.id) && ids(forGroup).includes(atIdentity.id), "below is included without a filter");
  assert.ok(forGroup.some((a) => a.scope === sub), "inherited from the subscription (the CLI's Owner)");

  const atScopeOnly = await collect(roleAssignments.listForScope(rg, { filter: "atScope()" }));
  assert.ok(ids(atScopeOnly).includes(atGroup.id) && !ids(atScopeOnly).includes(atIdentity.id));
  assert.ok(atScopeOnly.some((a) => a.scope === sub), "atScope() keeps what is above");

  const mine = await collect(roleAssignments.listForSubscription({ filter: `principalId eq '${identity.principalId}'` }));
  assert.deepEqual(new Set(ids(mine)), new Set([atGroup.id, atIdentity.id]));
  const assigned = await collect(roleAssignments.listForResourceGroup(sb.seed.resourceGroup, { filter: `assignedTo('${identity.principalId}')` }));
  assert.deepEqual(new Set(ids(assigned)), new Set([atGroup.id, atIdentity.id]));

  const forResource = await collect(roleAssignments.listForResource(sb.seed.resourceGroup, "Microsoft.ManagedIdentity", "userAssignedIdentities", identity.name, { filter: "atScope()" }));
  assert.ok(ids(forResource).includes(atIdentity.id) && ids(forResource).includes(atGroup.id));
});

test("role assignments at a nested resource scope, and raw requests at other api-versions", async () => {
  const identity = await newIdentity();
  const name = randomUUID();
  const path = `${identity.id}/providers/Microsoft.Authorization/roleAssignments/${name}`;
  const body = JSON.stringify({ properties: { roleDefinitionId: roleId(READER), principalId: identity.principalId } });
  for (const version of ["2015-07-01", "2018-09-01-preview", "2020-04-01-preview"]) {
    const res = await sb.arm("PUT", `${path}?api-version=${version}`, { body });
    assert.equal(res.status, 201, `${version}: ${res.text}`);
  }
  const unknown = await sb.arm("GET", `${path}?api-version=2030-01-01`);
  assert.equal(unknown.status, 400);
  assert.equal((unknown.json as { error: { code: string } }).error.code, "NoRegisteredProviderFound");
  const missing = await sb.arm("GET", `${path}`);
  assertArmError(missing, ArmErrors.missingApiVersion());
});
