import { test } from "node:test";
import assert from "node:assert/strict";
import { identityRecordAnnotations, nameRecordedRoles, readIdentityRecord, RECORD_ANNOTATIONS, recordedGrantsFor, unionGrants, withBinding } from "../../src/core/record.js";
import { identityAddCommand } from "../../src/core/repair-commands.js";
import { lookUpCluster } from "../../src/core/cluster-lookup.js";
import { assignmentName, isPodidsAssignment } from "../../src/azure/roles.js";
import type { ClusterInfo } from "../../src/azure/clusters.js";
import { AzureCode, NotFoundError, type PodidError, UsageCode } from "../../src/errors/index.js";

const SUB = "/subscriptions/11111111-1111-1111-1111-111111111111";
const RG = `${SUB}/resourceGroups/app-rg`;
const ID = `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id`;
const READER = `${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
const MIO = `${SUB}/providers/Microsoft.Authorization/roleDefinitions/f1a07417-d97a-45cb-824c-7a7467783830`;
const P = "22222222-2222-2222-2222-222222222222";
const KUBELET = "33333333-3333-3333-3333-333333333333";

const record = {
  resourceId: ID,
  principalId: P,
  createdByPodid: true,
  roles: [{ role: "Reader", roleDefinitionId: READER, scope: RG }],
  roleAssignments: [
    { principalId: P, roleDefinitionId: READER, scope: RG, role: "Reader" },
    { principalId: KUBELET, roleDefinitionId: MIO, scope: ID, role: "Managed Identity Operator" },
  ],
};

test("a record written as annotations reads back the same, and writing it again gives the same text", () => {
  const annotations = identityRecordAnnotations(record);
  const { record: back, problems } = readIdentityRecord(annotations);
  assert.deepEqual(problems, []);
  assert.deepEqual(back, { ...record, roleAssignments: [...record.roleAssignments] });
  assert.deepEqual(identityRecordAnnotations(back), annotations);
  const shuffled = identityRecordAnnotations({ ...record, roleAssignments: [...record.roleAssignments].reverse() });
  assert.deepEqual(shuffled, annotations, "the order of entries does not matter (a re-apply is unchanged)");
});

test("annotations edited by hand: what is not what podid writes is dropped and named, the rest is kept", () => {
  const good = identityRecordAnnotations(record);
  const { record: r, problems } = readIdentityRecord({
    ...good,
    [RECORD_ANNOTATIONS.resourceId]: "my-identity",
    [RECORD_ANNOTATIONS.principalId]: "someone",
    [RECORD_ANNOTATIONS.createdByPodid]: "yes",
    [RECORD_ANNOTATIONS.roles]: "{not json",
    [RECORD_ANNOTATIONS.roleAssignments]: JSON.stringify([
      { principalId: P, roleDefinitionId: READER, scope: RG },
      { principalId: "not-a-guid", roleDefinitionId: READER, scope: RG },
      { principalId: P, roleDefinitionId: READER, scope: "/subscriptions/../x" },
      { principalId: P, roleDefinitionId: "Owner", scope: SUB },
      "a string",
    ]),
  });
  assert.equal(r.resourceId, undefined);
  assert.equal(r.principalId, undefined);
  assert.equal(r.createdByPodid, undefined);
  assert.deepEqual(r.roles, []);
  assert.deepEqual(r.roleAssignments, [{ principalId: P, roleDefinitionId: READER, scope: RG }]);
  assert.equal(problems.length, 8, problems.join("\n"));
  assert.ok(problems.some((p) => /podid\.io\/role-assignments: entry 2 is not a role assignment/.test(p)));
});

test("the bindings podid made: one per name, what is not a binding is dropped", () => {
  const annotations = identityRecordAnnotations({ ...record, bindings: withBinding([{ name: "b", selector: "x" }], { name: "a", selector: "y" }) });
  assert.deepEqual(readIdentityRecord(annotations).record.bindings, [{ name: "a", selector: "y" }, { name: "b", selector: "x" }]);
  assert.deepEqual(withBinding([{ name: "a", selector: "y" }, { name: "b", selector: "x" }], { name: "a", selector: "z" }, "b"), [{ name: "a", selector: "z" }]);
  const { record: r, problems } = readIdentityRecord({ [RECORD_ANNOTATIONS.bindings]: JSON.stringify([{ name: "ok", selector: "s" }, { name: "Bad Name", selector: "s" }, { name: "x", selector: "a b" }]) });
  assert.deepEqual(r.bindings, [{ name: "ok", selector: "s" }]);
  assert.equal(problems.length, 2);
});

test("grants are the same by principal, role (its GUID) and scope, case-insensitively", () => {
  const merged = unionGrants(record.roleAssignments, [{ principalId: P.toUpperCase(), roleDefinitionId: "acdd72a7-3385-48ef-bd42-f606fba81ae7", scope: RG.toLowerCase() + "/" }]);
  assert.equal(merged.length, 2);
});

test("an assignment is podid's only when it is exactly the grant and podid made it (its derived name, or podid's description)", () => {
  const grant = record.roleAssignments[0];
  const name = assignmentName(RG, "acdd72a7-3385-48ef-bd42-f606fba81ae7", P);
  const at = { principalId: P, roleDefinitionId: READER, scope: RG };
  assert.ok(isPodidsAssignment({ ...at, name }, grant));
  assert.ok(isPodidsAssignment({ ...at, name: "random", description: "podid: identity default/app-id" }, grant));
  assert.ok(!isPodidsAssignment({ ...at, name: "random", description: "made by hand" }, grant), "someone else's assignment of the same role is not podid's to remove");
  assert.ok(!isPodidsAssignment({ ...at, scope: SUB, name, description: "podid: identity default/app-id" }, grant), "another scope is another grant");
  assert.ok(!isPodidsAssignment({ ...at, principalId: KUBELET, description: "podid: identity default/app-id" }, grant), "another principal is another grant");
});

test("the repair command names the identity's group, its resource id when the names differ, and each role at its scope", () => {
  const cluster = { name: "aks", resourceGroup: "aks-rg" };
  assert.equal(
    identityAddCommand({ name: "app-id", namespace: "team-a", resourceId: ID, roles: record.roles, cluster }),
    `podid identity add -n app-id -g app-rg --namespace team-a --cluster aks --cluster-resource-group aks-rg --role Reader --scope ${RG}`,
  );
  assert.equal(identityAddCommand({ name: "web", namespace: "default", resourceId: ID, roles: [] }), `podid identity add -n web -g app-rg --namespace default --identity-resource-id ${ID}`);
  const two = identityAddCommand({
    name: "app-id",
    namespace: "default",
    resourceId: ID,
    roles: [...record.roles, { role: "Storage Blob Data Reader", roleDefinitionId: READER.replace("acdd", "bcdd"), scope: SUB }],
  });
  assert.equal(two.split(" && ").length, 2, "roles at different scopes: one command per scope, never a cross product");
  assert.match(two, /--role 'Storage Blob Data Reader' --scope \/subscriptions\/1{8}-/);
  assert.equal(identityAddCommand({ name: "x", namespace: "default", roles: [] }), "podid identity add -n x -g <group> --namespace default");
});

const cluster = (name: string, resourceGroup: string): ClusterInfo => ({
  id: `${SUB}/resourceGroups/${resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${name}`,
  name,
  resourceGroup,
  location: "eastus",
  nodeResourceGroup: `MC_${resourceGroup}_${name}_eastus`,
  networkPlugin: "azure",
  kubelet: { resourceId: "", clientId: "", objectId: KUBELET },
});

/** The ClusterService port over a fixed list: get by group and name (ClusterNotFound otherwise), list all. */
function clusters(...all: ClusterInfo[]) {
  return {
    get: async (group: string, name: string) => {
      const found = all.find((c) => c.resourceGroup.toLowerCase() === group.toLowerCase() && c.name === name);
      if (!found) throw new NotFoundError(AzureCode.ClusterNotFound, `AKS cluster '${name}' was not found in resource group '${group}'`);
      return found;
    },
    list: async () => all,
  };
}

test("the cluster is found by the kubeconfig context's name when -g is not its group (the node resource group, the identity's group)", async () => {
  const aks = cluster("podid-aks", "podid-sandbox");
  assert.equal(await lookUpCluster(clusters(aks), {}, { contextName: "podid-aks", resourceGroup: "MC_podid-sandbox_podid-aks_eastus" }), aks);
  assert.equal(await lookUpCluster(clusters(aks), {}, { contextName: "podid-aks", resourceGroup: "app-rg" }), aks);
  assert.equal(await lookUpCluster(clusters(aks), { name: "podid-aks" }, {}), aks);
  await assert.rejects(lookUpCluster(clusters(aks), { name: "podid-aks", resourceGroup: "app-rg" }, {}), (e: PodidError) => e.code === AzureCode.ClusterNotFound, "--cluster-resource-group is taken as said");
  await assert.rejects(lookUpCluster(clusters(aks), {}, { contextName: "other", resourceGroup: "app-rg" }), /AKS cluster 'other' \(the kubeconfig context's name\) was not found in resource group 'app-rg' nor anywhere else/);
});

test("two clusters of that name: a usage error naming both, unless -g says which (its group or its node resource group)", async () => {
  const a = cluster("aks", "rg-a");
  const b = cluster("aks", "rg-b");
  await assert.rejects(lookUpCluster(clusters(a, b), {}, { contextName: "aks", resourceGroup: "app-rg" }), (e: PodidError) => {
    assert.equal(e.code, UsageCode.AmbiguousCluster);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /^2 AKS clusters are named aks \(the kubeconfig context's name\): aks in resource group rg-a, aks in resource group rg-b$/);
    assert.match(e.remedy!, /--cluster-resource-group/);
    return true;
  });
  assert.equal(await lookUpCluster(clusters(a, b), {}, { contextName: "aks", resourceGroup: "rg-b" }), b);
  assert.equal(await lookUpCluster(clusters(a, b), {}, { contextName: "aks", resourceGroup: "MC_rg-a_aks_eastus" }), a);
});

test("a recorded grant counts for an AzureIdentity only as the identity's own or the kubelet's Managed Identity Operator on it", () => {
  const VMC = `${SUB}/providers/Microsoft.Authorization/roleDefinitions/9980e02c-c2be-4d73-94e8-173b1dc7cf3c`;
  const MC = `${SUB}/resourceGroups/MC_rg_aks_westeurope`;
  const installed = [
    { principalId: KUBELET, roleDefinitionId: VMC, scope: MC },
    { principalId: KUBELET, roleDefinitionId: MIO, scope: RG },
  ];
  const other = { principalId: "44444444-4444-4444-4444-444444444444", roleDefinitionId: READER, scope: RG };
  const forged = { principalId: P, roleAssignments: [...record.roleAssignments, ...installed, other] };
  const r = recordedGrantsFor(forged, { resourceId: ID, principalId: P }, installed);
  assert.deepEqual(r.own, [record.roleAssignments[0]]);
  assert.deepEqual(r.onIdentity, [record.roleAssignments[1]]);
  assert.deepEqual(
    r.ignored.map((i) => i.why),
    [
      `role assignment 9980e02c-c2be-4d73-94e8-173b1dc7cf3c at ${MC} for principal ${KUBELET} is one of the kubelet's grants podid install recorded on the MIC Deployment, not this identity's; it is ignored`,
      `role assignment f1a07417-d97a-45cb-824c-7a7467783830 at ${RG} for principal ${KUBELET} is one of the kubelet's grants podid install recorded on the MIC Deployment, not this identity's; it is ignored`,
      `role assignment acdd72a7-3385-48ef-bd42-f606fba81ae7 at ${RG} for principal 44444444-4444-4444-4444-444444444444 is neither the identity's own (principal ${P}) nor the kubelet's Managed Identity Operator on ${ID}; it is ignored`,
    ],
  );
  // The kubelet's Managed Identity Operator at a group is not "on the identity", even without the MIC record.
  assert.equal(recordedGrantsFor(forged, { resourceId: ID }).onIdentity.length, 1);
  // A principal that is not the identity's actual one (the record edited, or the identity re-created) is not its own.
  assert.deepEqual(recordedGrantsFor(record, { resourceId: ID, principalId: "55555555-5555-5555-5555-555555555555" }).own, []);
});

test("recorded roles are named by Azure from their definition; an entry whose name disagrees is dropped and named", async () => {
  const OWNER = `${SUB}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635`;
  const names: Record<string, string> = { "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner", "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator" };
  const lookUp = async (id: string) => names[id.split("/").pop()!];
  const forged = { ...record, roles: [...record.roles, { role: "Reader", roleDefinitionId: OWNER, scope: SUB }], roleAssignments: [{ ...record.roleAssignments[0], role: "reader" }, { ...record.roleAssignments[1], role: undefined }] };
  const { record: named, problems } = await nameRecordedRoles(forged, lookUp);
  assert.deepEqual(named.roles, record.roles);
  assert.deepEqual(named.roleAssignments.map((g) => g.role), ["Reader", "Managed Identity Operator"]);
  assert.deepEqual(problems, [`annotation podid.io/roles: the entry at ${SUB} says role 'Reader' but its roleDefinitionId is 'Owner'; it is ignored`]);
  const unknown = await nameRecordedRoles({ ...record, roles: [{ role: "Reader", roleDefinitionId: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/99999999-9999-9999-9999-999999999999`, scope: RG }] }, lookUp);
  assert.deepEqual(unknown.record.roles, []);
  assert.match(unknown.problems[0], /names role definition 99999999-9999-9999-9999-999999999999, which does not exist; it is ignored/);
});
