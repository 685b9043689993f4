import { test } from "node:test";
import assert from "node:assert/strict";
import { actionMatches, permitsAction, scopeCovers } from "../../src/azure/permissions.js";

test("wildcards match as ARM does, case-insensitively", () => {
  assert.ok(actionMatches("*", "Microsoft.Compute/virtualMachineScaleSets/write"));
  assert.ok(actionMatches("*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/read"));
  assert.ok(!actionMatches("*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/write"));
  assert.ok(actionMatches("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "microsoft.managedidentity/userassignedidentities/assign/action"));
  assert.ok(actionMatches("Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/virtualMachineScaleSets/write"));
  assert.ok(!actionMatches("Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/virtualMachines/write"));
  assert.ok(!actionMatches("Microsoft.Compute/x.y", "Microsoft.Compute/xzy"), "dots are literal");
});

test("notActions subtract from actions (Contributor cannot write role assignments)", () => {
  const contributor = [{ actions: ["*"], notActions: ["Microsoft.Authorization/*/Write", "Microsoft.Authorization/*/Delete"] }];
  assert.ok(permitsAction(contributor, "Microsoft.ManagedIdentity/userAssignedIdentities/write"));
  assert.ok(!permitsAction(contributor, "Microsoft.Authorization/roleAssignments/write"));
});

test("a scope covers itself and everything below it, case-insensitively", () => {
  const rg = "/subscriptions/s/resourceGroups/rg";
  assert.ok(scopeCovers("/subscriptions/s", rg));
  assert.ok(scopeCovers(rg, rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x"));
  assert.ok(scopeCovers("/SUBSCRIPTIONS/S/resourcegroups/RG", rg));
  assert.ok(!scopeCovers(rg, "/subscriptions/s/resourceGroups/rg2"));
  assert.ok(!scopeCovers(rg + "/providers/a/b/c", rg));
});
