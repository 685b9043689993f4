import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { renderAzureIdentity, renderAzureIdentityBinding, renderAzurePodIdentityException } from "../../src/render/identity.js";
import { toYamlStream } from "../../src/render/templates.js";
import { formatResourceId, parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../src/azure/resource-id.js";
import { checkAzureIdentityName, checkGuid, checkKubeName, checkLabelValue, checkNamespace } from "../../src/core/validate.js";
import { UsageError } from "../../src/errors/index.js";

const rid = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app";

test("an AzureIdentity has type 0 and the canonical camelCase fields", () => {
  const identity = renderAzureIdentity({ name: "app", namespace: "team-a", resourceId: rid, clientId: "c" });
  assert.equal(identity.apiVersion, "aadpodidentity.k8s.io/v1");
  assert.deepEqual(identity.spec, { type: 0, resourceID: rid, clientID: "c" });
  assert.equal(identity.metadata.labels?.["app.kubernetes.io/managed-by"], "podid");
  assert.equal(renderAzureIdentity({ name: "a", namespace: "b", resourceId: rid, clientId: "c", namespaced: true }).metadata.annotations?.["aadpodidentity.k8s.io/Behavior"], "namespaced");
});

test("hostile values stay data: YAML round-trips them exactly and adds no keys", () => {
  const nasty = 'x: y\n"z": {a: 1} # comment\n---\nkind: Secret';
  const objects = [
    renderAzureIdentity({ name: "app", namespace: "ns", resourceId: nasty, clientId: nasty }),
    renderAzureIdentityBinding({ name: "b", namespace: "ns", identityName: nasty, selector: nasty }),
    renderAzurePodIdentityException({ name: "e", namespace: "ns", podLabels: { [nasty]: nasty } }),
  ];
  const docs = parseAllDocuments(toYamlStream(objects)).map((d) => d.toJS());
  assert.equal(docs.length, 3);
  assert.deepEqual(docs, JSON.parse(JSON.stringify(objects)));
  assert.deepEqual(Object.keys(docs[0].spec).sort(), ["clientID", "resourceID", "type"]);
});

test("rendering twice gives equal objects (templates are not mutated)", () => {
  const a = renderAzureIdentityBinding({ name: "b", namespace: "ns", identityName: "i", selector: "s" });
  const b = renderAzureIdentityBinding({ name: "b", namespace: "ns", identityName: "i", selector: "s" });
  assert.deepEqual(a, b);
  assert.deepEqual(renderAzurePodIdentityException({ name: "e", namespace: "n", podLabels: {} }).spec.podLabels, {});
});

test("resource ids parse case-insensitively and come out canonical", () => {
  const portal = "/subscriptions/0000/resourcegroups/rg/providers/microsoft.managedidentity/userassignedidentities/app/";
  assert.equal(formatResourceId(parseResourceId(portal, USER_ASSIGNED_IDENTITY_TYPE)), rid);
  assert.throws(() => parseResourceId("subscriptions/0000/resourceGroups/rg", USER_ASSIGNED_IDENTITY_TYPE), UsageError);
  assert.throws(() => parseResourceId("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v", USER_ASSIGNED_IDENTITY_TYPE), /not a Microsoft.ManagedIdentity/);
});

test("names, namespaces, GUIDs and selectors are checked before anything is made", () => {
  for (const bad of ["Upper", "a_b", "-a", "a-", "a:b", "a\nb", "{a}", "a#b", "x".repeat(254)]) assert.throws(() => checkKubeName("name", bad), UsageError, bad);
  assert.equal(checkKubeName("name", "my.app-1"), "my.app-1");
  assert.throws(() => checkNamespace("a.b"), UsageError);
  assert.throws(() => checkAzureIdentityName("ab"), UsageError);
  assert.throws(() => checkAzureIdentityName("a b c"), UsageError);
  assert.equal(checkAzureIdentityName("My_App-1"), "My_App-1");
  assert.throws(() => checkGuid("client id", "1234"), UsageError);
  assert.equal(checkGuid("id", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  assert.throws(() => checkLabelValue("selector", "has space"), UsageError);
  assert.throws(() => checkLabelValue("selector", ""), UsageError);
  assert.equal(checkLabelValue("selector", "demo.app_1"), "demo.app_1");
});
