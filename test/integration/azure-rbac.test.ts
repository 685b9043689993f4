import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ManagedIdentityCredential } from "@azure/identity";
import { assertArmError, rejectsWithArmError, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { ArmErrors } from "../../src/sandbox/azure/arm-errors.js";
import { armAudiences } from "../../src/sandbox/azure/context.js";

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const MI_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830";
const VM_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
const IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities";

let sb: AzureSandbox;
let authority: string;
before(async () => {
  sb = await startAzureSandbox({ nodes: 1 });
  authority = `${sb.cloud.endpoints.entra}/${sb.cloud.cliCredential.tenantId}`;
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = sb.cloud.endpoints.imds[sb.seed.nodes[0].name];
});
after(async () => {
  await sb?.close();
});

const roleId = (guid: string) => `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
const groupScope = (rg: string) => `/subscriptions/${sb.subscriptionId}/resourceGroups/${rg}`;

async function grant(scope: string, role: string, principalId: string): Promise<string> {
  const name = randomUUID();
  await sb.clients.authorization.roleAssignments.create(scope, name, { roleDefinitionId: roleId(role), principalId, principalType: "ServicePrincipal" });
  return name;
}

async function newIdentity() {
  const name = `id-${randomUUID().slice(0, 8)}`;
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, name, { location: "eastus" });
  return { id: created.id!, name, principalId: created.principalId!, clientId: created.clientId! };
}

test("no token, a malformed token and a token for another audience get ARM's 401s with the challenge", async () => {
  const url = `${sb.cloud.endpoints.arm}/subscriptions/${sb.subscriptionId}?api-version=2022-12-01`;
  const none = await sb.raw(url);
  assertArmError(none, ArmErrors.missingAuthorization(authority));
  assert.match(String(none.headers["www-authenticate"]), new RegExp(`^Bearer authorization_uri="${authority}"`));
  assertArmError(await sb.raw(url, { headers: { authorization: "Bearer not.a.jwt" } }), ArmErrors.invalidToken(authority));
  assertArmError(await sb.raw(url, { headers: { authorization: "Basic Zm9vOmJhcg==" } }), ArmErrors.unsupportedScheme(authority));
  const vault = await sb.credential.getToken("https://vault.azure.net/.default");
  assertArmError(await sb.raw(url, { headers: { authorization: `Bearer ${vault.token}` } }), ArmErrors.wrongAudience(authority, "https://vault.azure.net", armAudiences(sb.cloud.endpoints)));
});

test("a principal without a role is refused; with Reader it may read but not write", async () => {
  const app = sb.addApplication(`rbac-${randomUUID().slice(0, 8)}`);
  const rg = sb.seed.resourceGroup;
  const kubeletName = sb.seed.kubeletIdentityName;
  const nodeRg = sb.seed.nodeResourceGroup;
  const kubeletId = `${groupScope(nodeRg)}/providers/${IDENTITY_TYPE}/${kubeletName}`;
  await rejectsWithArmError(app.clients.msi.userAssignedIdentities.get(nodeRg, kubeletName), ArmErrors.authorizationFailed(app.objectId, `${IDENTITY_TYPE}/read`, kubeletId));
  const subs = await sb.arm("GET", "/subscriptions?api-version=2022-12-01", { credential: app.credential });
  assert.deepEqual((subs.json as { value: unknown[] }).value, [], "a principal without any role sees no subscription");

  await grant(groupScope(nodeRg), READER, app.objectId);
  const kubelet = await app.clients.msi.userAssignedIdentities.get(nodeRg, kubeletName);
  assert.equal(kubelet.name, kubeletName);
  const missing = `nope-${randomUUID().slice(0, 6)}`;
  await rejectsWithArmError(app.clients.msi.userAssignedIdentities.get(nodeRg, missing), ArmErrors.resourceNotFound(`${IDENTITY_TYPE}/${missing}`, nodeRg));
  const name = `id-${randomUUID().slice(0, 8)}`;
  await rejectsWithArmError(
    app.clients.msi.userAssignedIdentities.createOrUpdate(nodeRg, name, { location: "eastus" }),
    ArmErrors.authorizationFailed(app.objectId, `${IDENTITY_TYPE}/write`, `${groupScope(nodeRg)}/providers/${IDENTITY_TYPE}/${name}`),
  );
  // Reader on the node resource group says nothing about the cluster's own group.
  await rejectsWithArmError(
    app.clients.aks.managedClusters.get(rg, sb.seed.clusterName),
    ArmErrors.authorizationFailed(app.objectId, "Microsoft.ContainerService/managedClusters/read", `${groupScope(rg)}/providers/Microsoft.ContainerService/managedClusters/${sb.seed.clusterName}`),
  );
  const subsNow = await sb.arm("GET", "/subscriptions?api-version=2022-12-01", { credential: app.credential });
  assert.equal((subsNow.json as { value: unknown[] }).value.length, 1, "a role anywhere in the subscription makes it visible");
});

test("the MIC path: the kubelet identity (IMDS token) needs VM Contributor on the scale set and Managed Identity Operator on the identity", async () => {
  const nodeRg = sb.seed.nodeResourceGroup;
  const vmssId = `${groupScope(nodeRg)}/providers/Microsoft.Compute/virtualMachineScaleSets/${sb.seed.vmssName}`;
  const kubelet = await sb.clients.msi.userAssignedIdentities.get(nodeRg, sb.seed.kubeletIdentityName);
  const mic = sb.clientsFor(new ManagedIdentityCredential({ clientId: kubelet.clientId! }));
  const identity = await newIdentity();
  const attach = () =>
    mic.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, sb.seed.vmssName, { identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id]: {} } } });

  await rejectsWithArmError(attach(), ArmErrors.authorizationFailed(kubelet.principalId!, "Microsoft.Compute/virtualMachineScaleSets/write", vmssId));
  await grant(groupScope(nodeRg), VM_CONTRIBUTOR, kubelet.principalId!);
  await rejectsWithArmError(
    attach(),
    ArmErrors.linkedAuthorizationFailed(kubelet.principalId!, "Microsoft.Compute/virtualMachineScaleSets/write", vmssId, `${IDENTITY_TYPE}/assign/action`, [identity.id]),
  );
  // Managed Identity Operator's `userAssignedIdentities/*/assign/action` grants `userAssignedIdentities/assign/action`.
  await grant(identity.id, MI_OPERATOR, kubelet.principalId!);
  const updated = await attach();
  assert.equal(updated.identity?.userAssignedIdentities?.[identity.id]?.principalId, identity.principalId);

  // Removing needs no assign permission on the removed identity.
  const other = await newIdentity();
  await sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, sb.seed.vmssName, { identity: { type: "UserAssigned", userAssignedIdentities: { [other.id]: {} } } });
  await mic.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, sb.seed.vmssName, {
    identity: { type: "UserAssigned", userAssignedIdentities: { [other.id]: null } as unknown as Record<string, object> },
  });
});

test("role assignment writes need Microsoft.Authorization/roleAssignments/write: Contributor-like roles cannot grant", async () => {
  const app = sb.addApplication(`rbac-${randomUUID().slice(0, 8)}`);
  const scope = groupScope(sb.seed.resourceGroup);
  await grant(scope, "b24988ac-6180-42a0-ab88-20f7382dd24c", app.objectId);
  const identity = await newIdentity();
  const name = randomUUID();
  await rejectsWithArmError(
    app.clients.authorization.roleAssignments.create(identity.id, name, { roleDefinitionId: roleId(READER), principalId: identity.principalId }),
    ArmErrors.authorizationFailed(app.objectId, "Microsoft.Authorization/roleAssignments/write", identity.id),
  );
  await grant(scope, "f58310d9-a9f6-439a-9e8d-f62e7b41a168", app.objectId); // Role Based Access Control Administrator
  const created = await app.clients.authorization.roleAssignments.create(identity.id, name, { roleDefinitionId: roleId(READER), principalId: identity.principalId });
  assert.equal(created.name, name);
});

test("a custom role is created, assigned, enforced and deleted", async () => {
  const sub = `/subscriptions/${sb.subscriptionId}`;
  const guid = randomUUID();
  const roleName = `identity-reader-${guid.slice(0, 6)}`;
  const defs = sb.clients.authorization.roleDefinitions;
  const created = await defs.createOrUpdate(sub, guid, {
    roleName,
    description: "reads identities",
    roleType: "CustomRole",
    permissions: [{ actions: [`${IDENTITY_TYPE}/*/read`], notActions: [] }],
    assignableScopes: [sub],
  });
  assert.equal(created.roleName, roleName);
  const found = [];
  for await (const d of defs.list(sub, { filter: `roleName eq '${roleName}'` })) found.push(d.name);
  assert.deepEqual(found, [guid]);

  const app = sb.addApplication(`custom-${guid.slice(0, 6)}`);
  const assignment = await grant(groupScope(sb.seed.nodeResourceGroup), guid, app.objectId);
  const kubelet = await app.clients.msi.userAssignedIdentities.get(sb.seed.nodeResourceGroup, sb.seed.kubeletIdentityName);
  assert.equal(kubelet.name, sb.seed.kubeletIdentityName, "`userAssignedIdentities/*/read` grants `userAssignedIdentities/read`");
  await rejectsWithArmError(defs.delete(sub, guid), ArmErrors.roleDefinitionHasAssignments());
  await sb.clients.authorization.roleAssignments.delete(groupScope(sb.seed.nodeResourceGroup), assignment);
  await defs.delete(sub, guid);
  await rejectsWithArmError(defs.get(sub, guid), ArmErrors.roleDefinitionDoesNotExist(guid));
});
