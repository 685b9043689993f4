import { test } from "node:test";
import assert from "node:assert/strict";
import { actionGranted, isAuthorized, roleByGuid, roleGrants, scopeContains } from "../../src/sandbox/azure/rbac.js";
import { BUILTIN_ROLES } from "../../src/sandbox/azure/builtin-roles.js";
import type { AzureState, RoleAssignment } from "../../src/sandbox/azure/model.js";

const role = (name: string) => BUILTIN_ROLES.find((r) => r.properties.roleName === name)!;

test("action patterns: case-insensitive, * spans slashes, /*/ also matches a single /", () => {
  assert.ok(actionGranted("*", "Microsoft.Compute/virtualMachineScaleSets/write"));
  assert.ok(actionGranted("*/read", "microsoft.managedidentity/userassignedidentities/read"));
  assert.ok(!actionGranted("*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/write"));
  assert.ok(actionGranted("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"));
  assert.ok(actionGranted("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/x/assign/action"));
  assert.ok(!actionGranted("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentitiesassign/action"));
  assert.ok(actionGranted("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write"));
  assert.ok(!actionGranted("Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/virtualMachines/write"));
  assert.ok(!actionGranted("Microsoft.Compute/x.y", "Microsoft.Compute/xzy"), "dots are literal");
});

test("built-in roles: Contributor cannot write role assignments, MI Operator can assign but not write identities", () => {
  assert.ok(roleGrants(role("Contributor"), "Microsoft.ManagedIdentity/userAssignedIdentities/write"));
  assert.ok(!roleGrants(role("Contributor"), "Microsoft.Authorization/roleAssignments/write"));
  assert.ok(roleGrants(role("Owner"), "Microsoft.Authorization/roleAssignments/write"));
  assert.ok(roleGrants(role("Managed Identity Operator"), "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"));
  assert.ok(!roleGrants(role("Managed Identity Operator"), "Microsoft.ManagedIdentity/userAssignedIdentities/write"));
  assert.ok(roleGrants(role("Virtual Machine Contributor"), "Microsoft.Compute/virtualMachineScaleSets/write"));
  assert.ok(!roleGrants(role("Virtual Machine Contributor"), "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"));
  assert.ok(roleGrants(role("Reader"), "Microsoft.Resources/subscriptions/resourceGroups/read"));
  assert.ok(roleGrants(role("Role Based Access Control Administrator"), "Microsoft.Authorization/roleAssignments/write"));
  assert.ok(!roleGrants(role("Storage Blob Data Reader"), "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"), "dataActions are not actions");
});

test("scopes contain themselves and what lies below, segment by segment, case-insensitively", () => {
  const rg = "/subscriptions/s/resourceGroups/rg";
  assert.ok(scopeContains("/", rg));
  assert.ok(scopeContains("/subscriptions/s", rg));
  assert.ok(scopeContains("/SUBSCRIPTIONS/S/resourcegroups/RG/", rg));
  assert.ok(scopeContains(rg, `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x`));
  assert.ok(!scopeContains(rg, "/subscriptions/s/resourceGroups/rg2"), "a sibling with a longer name is not below");
  assert.ok(!scopeContains(`${rg}/providers/a/b/c`, rg));
});

test("isAuthorized: an assignment at an ancestor scope grants below it, not beside it", () => {
  const assignment = (principalId: string, scope: string, guid: string): RoleAssignment => ({
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/x`,
    name: "x",
    type: "Microsoft.Authorization/roleAssignments",
    properties: { roleDefinitionId: `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${guid}`, principalId, principalType: "ServicePrincipal", scope, createdOn: "", updatedOn: "", createdBy: "", updatedBy: "" },
  });
  const state = {
    customRoles: {},
    roleAssignments: {
      a: assignment("P", "/subscriptions/s/resourceGroups/mc", role("Virtual Machine Contributor").name),
      b: assignment("p", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1", role("Managed Identity Operator").name),
    },
  } as unknown as AzureState;
  const vmss = "/subscriptions/s/resourceGroups/MC/providers/Microsoft.Compute/virtualMachineScaleSets/v";
  assert.ok(isAuthorized(state, "p", "Microsoft.Compute/virtualMachineScaleSets/write", vmss));
  assert.ok(!isAuthorized(state, "q", "Microsoft.Compute/virtualMachineScaleSets/write", vmss));
  const id1 = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1";
  assert.ok(isAuthorized(state, "p", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", id1));
  assert.ok(!isAuthorized(state, "p", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", `${id1}0`));
  assert.equal(roleByGuid(state, role("Reader").name.toUpperCase())?.properties.roleName, "Reader");
});
