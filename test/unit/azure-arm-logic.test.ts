import { test } from "node:test";
import assert from "node:assert/strict";
import { nextIdentity } from "../../src/sandbox/azure/handlers/compute.js";
import { isResourceId } from "../../src/sandbox/azure/scopes.js";
import { API_VERSIONS, isSupportedVersion, isWellFormedVersion } from "../../src/sandbox/azure/api-versions.js";
import { ruleMatches } from "../../src/sandbox/azure/faults.js";
import { ArmFailure } from "../../src/sandbox/azure/arm-call.js";

const A = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a";
const B = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b";
const attachedA = { type: "UserAssigned", userAssignedIdentities: { [A]: { principalId: "pa", clientId: "ca" } } };

test("scale-set identity PATCH: absent keys are kept, null removes (case-insensitively), new keys are reported as added", () => {
  const added = nextIdentity(attachedA, { type: "UserAssigned", userAssignedIdentities: { [B]: {} } }, "patch");
  assert.deepEqual(added.added, [B]);
  assert.deepEqual(Object.keys(added.identity.userAssignedIdentities ?? {}), [A]);
  const removed = nextIdentity(attachedA, { type: "UserAssigned", userAssignedIdentities: { [A.toUpperCase()]: null } }, "patch");
  assert.deepEqual(removed.added, []);
  assert.equal(removed.identity.type, "None", "removing the last user-assigned identity leaves none");
  const again = nextIdentity(attachedA, { userAssignedIdentities: { [A.toLowerCase()]: {} } }, "patch");
  assert.deepEqual(again.added, [], "an attached identity named in another case is not added twice");
});

test("scale-set identity PUT replaces the map; type None drops everything; a bad type is refused", () => {
  const put = nextIdentity(attachedA, { type: "UserAssigned", userAssignedIdentities: { [B]: {} } }, "put");
  assert.deepEqual(put.added, [B]);
  assert.deepEqual(Object.keys(put.identity.userAssignedIdentities ?? {}), []);
  const none = nextIdentity(attachedA, { type: "None" }, "patch");
  assert.equal(none.identity.type, "None");
  assert.equal(none.identity.userAssignedIdentities, undefined);
  assert.equal(nextIdentity(undefined, { type: "systemassigned,userassigned", userAssignedIdentities: { [B]: {} } }, "patch").identity.type, "SystemAssigned, UserAssigned");
  assert.throws(() => nextIdentity(attachedA, { type: "Everything" }, "patch"), ArmFailure);
});

test("resource ids: fully qualified provider ids only", () => {
  assert.ok(isResourceId(A));
  assert.ok(isResourceId(`${A}/federatedIdentityCredentials/x`));
  assert.ok(!isResourceId("not-an-id"));
  assert.ok(!isResourceId("/subscriptions/s/resourceGroups/rg"));
  assert.ok(!isResourceId("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities"));
  assert.ok(!isResourceId(A.slice(1)), "must start with /");
});

test("api-versions: any dated version within a type's range, preview or not; nothing else", () => {
  const identities = API_VERSIONS.identities;
  for (const v of ["2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30"]) assert.ok(isSupportedVersion(identities, v), v);
  for (const v of ["2014-01-01", "2030-01-01", "latest", "2023-13-01", "2023-01-31-beta2", "2023-02-30", "2023-02-29"]) assert.ok(!isSupportedVersion(identities, v), v);
  for (const v of ["2024-02-29", "2023-01-31-preview", "2013-03-01"]) assert.ok(isWellFormedVersion(v), v);
  for (const v of ["2023-02-30", "2023-02-29", "2023-04-31", "2023-00-10", "2023-1-01", "latest", ""]) assert.ok(!isWellFormedVersion(v), `no such day or no date: ${v}`);
  assert.ok(isSupportedVersion(API_VERSIONS.scaleSets, "2025-04-01"), "what @azure/arm-compute 23.3 sends");
  assert.ok(isSupportedVersion(API_VERSIONS.managedClusters, "2025-10-01"), "what @azure/arm-containerservice 24.1 sends");
  assert.ok(isSupportedVersion(API_VERSIONS.roleAssignments, "2022-04-01"), "what @azure/arm-authorization 9.0 sends");
});

test("fault rules match by service, method and a case-insensitive path glob", () => {
  const rule = { id: "r", service: "arm" as const, method: "GET", path: "/subscriptions/*/userAssignedIdentities/*" };
  assert.ok(ruleMatches(rule, "arm", "GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userassignedidentities/x"));
  assert.ok(!ruleMatches(rule, "arm", "PUT", "/subscriptions/s/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x"));
  assert.ok(!ruleMatches(rule, "imds", "GET", "/subscriptions/s/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x"));
  assert.ok(ruleMatches({ ...rule, service: "*", method: "*", path: "*" }, "entra", "POST", "/t/oauth2/v2.0/token"));
});
