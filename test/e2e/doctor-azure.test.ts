import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { AppsV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { eventually } from "../helpers/eventually.js";
import { runPodid } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { revokeRole } from "../helpers/roles.js";
import { applyFix, assertStatus, checkOf, findingOf, runDoctor } from "../helpers/doctor.js";
import { rolloutState, type Workload } from "../../src/kube/workloads.js";

// podid doctor's Azure checks: 5 (network plugin), 6 (kubelet identity's roles), 7 (AzureIdentity in Azure),
// 16 (identity deleted and re-created). Each scenario breaks one thing, runs doctor, applies its fix, re-checks.
let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let aks: ContainerServiceClient;
let kubelet: string;
const NO_WAIT = "--no-wait";
const VMC = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
const MIO = "f1a07417-d97a-45cb-824c-7a7467783830";

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
  aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  kubelet = (await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName)).identityProfile!.kubeletidentity!.objectId!;
  const r = await runPodid(["install", "--cluster", sb.info.clusterName, "-g", sb.info.resourceGroup, NO_WAIT], { env: sb.env });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => sb?.stop());

const addIdentity = async (name: string) => {
  const r = await runPodid(["identity", "add", "-n", name, "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--namespace", "default"], { env: sb.env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { clientId: string; resourceId: string };
};

async function setNetworkPlugin(plugin: string): Promise<void> {
  const cluster = await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName);
  await aks.managedClusters.beginCreateOrUpdateAndWait(sb.info.resourceGroup, sb.info.clusterName, { ...cluster, networkProfile: { ...cluster.networkProfile, networkPlugin: plugin } }, { updateIntervalInMs: 10 });
}

/** Deletes the kubelet identity's assignments of a built-in role (by GUID). */
const revokeKubelet = (roleGuid: string) => revokeRole(clients.auth, kubelet, roleGuid);

test("a healthy installation with an identity is all ok", async () => {
  await addIdentity("healthy-id");
  const r = await runDoctor(sb);
  assert.equal(r.code, 0, JSON.stringify(r.report.checks.filter((c) => c.status !== "ok" && c.id !== "probe"), null, 2));
  assert.equal((checkOf(r.report, "kubelet-roles").observed.assign as Record<string, boolean>)[`/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/healthy-id`], true);
});

test("5. kubenet without NMI's flag fails; the fix (install --kubenet) leaves a warning with the mitigation; Azure CNI is ok", async () => {
  await setNetworkPlugin("kubenet");
  try {
    const r = await runDoctor(sb);
    assert.equal(r.code, 5);
    const f = findingOf(r.report, "network-plugin", /uses the kubenet network plugin and NMI is not run with --allow-network-plugin-kubenet/);
    assert.ok(f.errors.includes("AAD Pod Identity is not supported for Kubenet"));
    assert.match(f.fix!, new RegExp(`^podid install --cluster ${sb.info.clusterName} -g ${sb.info.resourceGroup} --kubenet`));
    await applyFix(sb, f.fix, NO_WAIT);
    // As install itself waits without --no-wait: NMI's DaemonSet has rolled out its new flag on every node.
    const apps = clients.kc.makeApiClient(AppsV1Api);
    await eventually("NMI rolled out with --allow-network-plugin-kubenet", async () => {
      const ds = await apps.readNamespacedDaemonSet({ name: "podid-nmi", namespace: "kube-system" });
      return rolloutState({ ...ds, kind: "DaemonSet" } as Workload).complete;
    });
    const after = await runDoctor(sb);
    assert.equal(after.code, 4, JSON.stringify(after.report.checks.filter((c) => c.status === "fail"), null, 1));
    const w = findingOf(after.report, "network-plugin", /uses kubenet and NMI is allowed to run on it: .*CVE-2021-1677/);
    assert.equal(w.severity, "warn");
    assert.match(w.fix!, /NET_RAW/);
  } finally {
    await setNetworkPlugin("azure");
  }
  assertStatus((await runDoctor(sb)).report, "network-plugin", "ok");
});

test("6. the kubelet identity without Virtual Machine Contributor fails; the suggested podid install grants it again", async () => {
  assert.ok((await revokeKubelet(VMC)) > 0);
  const r = await runDoctor(sb);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "kubelet-roles", /may not write the node scale sets in MC_/);
  assert.ok(f.errors.includes("AuthorizationFailed"));
  assert.ok(f.objects.includes(kubelet));
  assert.match(f.fix!, /az role assignment create --assignee-object-id .* --role "Virtual Machine Contributor" --scope \/subscriptions\/.*\/resourceGroups\/MC_/);
  await applyFix(sb, f.fix);
  assertStatus((await runDoctor(sb)).report, "kubelet-roles", "ok");
});

test("6. the kubelet identity unable to assign an identity fails with LinkedAuthorizationFailed; the fix grants Managed Identity Operator on its group", async () => {
  assert.ok((await revokeKubelet(MIO)) > 0);
  const r = await runDoctor(sb, ["--namespace", "default", "--identity", "healthy-id"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "kubelet-roles", /may not assign \/subscriptions\/.*\/userAssignedIdentities\/healthy-id \(AzureIdentity default\/healthy-id\)/);
  assert.ok(f.errors.includes("LinkedAuthorizationFailed"));
  assert.match(f.fix!, new RegExp(`^podid install --cluster ${sb.info.clusterName} -g ${sb.info.resourceGroup} --identity-resource-group ${sb.info.resourceGroup}`));
  await applyFix(sb, f.fix);
  assertStatus((await runDoctor(sb, ["--namespace", "default", "--identity", "healthy-id"])).report, "kubelet-roles", "ok");
});

test("6. custom roles count by their actions: an assign-only role at the identity is enough, one that notActions it is not", async () => {
  await addIdentity("custom-ok");
  await addIdentity("custom-no");
  assert.ok((await revokeKubelet(MIO)) > 0);
  const sub = `/subscriptions/${sb.info.subscriptionId}`;
  const idScope = (name: string) => `${sub}/resourceGroups/${sb.info.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
  const role = async (guid: string, roleName: string, permissions: { actions: string[]; notActions: string[] }) =>
    (await clients.auth.roleDefinitions.createOrUpdate(sub, guid, { roleName, roleType: "CustomRole", permissions: [permissions], assignableScopes: [sub] })).id!;
  const assigner = await role("6d0b2a59-8c55-4f0f-9b0e-0d6e9f6b1a01", "Identity Assigner", { actions: ["Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"], notActions: [] });
  const almost = await role("6d0b2a59-8c55-4f0f-9b0e-0d6e9f6b1a02", "Identity Almost", { actions: ["Microsoft.ManagedIdentity/*"], notActions: ["Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"] });
  await clients.auth.roleAssignments.create(idScope("custom-ok"), "6d0b2a59-8c55-4f0f-9b0e-0d6e9f6b1a11", { roleDefinitionId: assigner, principalId: kubelet, principalType: "ServicePrincipal" });
  await clients.auth.roleAssignments.create(idScope("custom-no"), "6d0b2a59-8c55-4f0f-9b0e-0d6e9f6b1a12", { roleDefinitionId: almost, principalId: kubelet, principalType: "ServicePrincipal" });
  const ok = await runDoctor(sb, ["--namespace", "default", "--identity", "custom-ok"]);
  assertStatus(ok.report, "kubelet-roles", "ok");
  const no = await runDoctor(sb, ["--namespace", "default", "--identity", "custom-no"]);
  const f = findingOf(no.report, "kubelet-roles", /may not assign .*\/custom-no/);
  await applyFix(sb, f.fix);
  assertStatus((await runDoctor(sb, ["--namespace", "default", "--identity", "custom-no"])).report, "kubelet-roles", "ok");
});

test("7. an AzureIdentity whose Azure identity was deleted fails; the suggested identity add re-creates it", async () => {
  await addIdentity("gone-id");
  await clients.msi.userAssignedIdentities.delete(sb.info.resourceGroup, "gone-id");
  const r = await runDoctor(sb, ["--namespace", "default"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "azure-identities", /AzureIdentity default\/gone-id names .*\/userAssignedIdentities\/gone-id, which does not exist in Azure/);
  assert.ok(f.errors.includes("Identity not found"));
  assert.equal(f.fix, `podid identity add -n gone-id -g ${sb.info.resourceGroup} --namespace default --cluster ${sb.info.clusterName} --cluster-resource-group ${sb.info.resourceGroup}`);
  assert.equal(checkOf(r.report, "recreated-identity").findings.length, 0, "a missing identity is check 7's, not 16's");
  await applyFix(sb, f.fix);
  const fixed = await runDoctor(sb, ["--namespace", "default"]);
  assertStatus(fixed.report, "azure-identities", "ok");
  assertStatus(fixed.report, "recreated-identity", "ok");
});

test("7. an AzureIdentity with an invalid resource id or type fails with MIC's reason", async () => {
  const custom = clients.kc.makeApiClient(CustomObjectsApi);
  const body = (name: string, spec: object) => ({ apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name }, spec });
  await custom.createNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: "default", plural: "azureidentities", body: body("bad-id", { type: 0, resourceID: "my-identity", clientID: "00000000-0000-0000-0000-000000000001" }) });
  await custom.createNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: "default", plural: "azureidentities", body: body("bad-type", { type: 7, resourceID: "x", clientID: "y" }) });
  try {
    const r = await runDoctor(sb, ["--namespace", "default"]);
    const f = findingOf(r.report, "azure-identities", /AzureIdentity default\/bad-id is not usable: invalid resource id: "my-identity"/);
    assert.match(f.fix!, /^podid identity add -n bad-id -g <group> --namespace default/);
    findingOf(r.report, "azure-identities", /AzureIdentity default\/bad-type is not usable: unsupported identity type 7/);
  } finally {
    for (const name of ["bad-id", "bad-type"]) await custom.deleteNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: "default", plural: "azureidentities", name });
  }
  assertStatus((await runDoctor(sb, ["--namespace", "default"])).report, "azure-identities", "ok");
});

test("16. an identity deleted and re-created under the same name: the AzureIdentity's clientID is stale; identity add updates it", async () => {
  const before = await addIdentity("recreated-id");
  await clients.msi.userAssignedIdentities.delete(sb.info.resourceGroup, "recreated-id");
  const now = await clients.msi.userAssignedIdentities.createOrUpdate(sb.info.resourceGroup, "recreated-id", { location: sb.info.location });
  assert.notEqual(now.clientId, before.clientId);
  const r = await runDoctor(sb, ["--namespace", "default", "--identity", "recreated-id"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "recreated-identity", new RegExp(`AzureIdentity default/recreated-id has clientID ${before.clientId}, but .* now has client id ${now.clientId}: the identity was deleted and re-created`));
  assert.ok(f.errors.includes("Identity not found"));
  assertStatus(r.report, "azure-identities", "ok");
  await applyFix(sb, f.fix);
  assertStatus((await runDoctor(sb, ["--namespace", "default", "--identity", "recreated-id"])).report, "recreated-identity", "ok");
});

test("--cluster alone finds the cluster by name, -g alone narrows the nodes' cluster to that group; a wrong -g is nothing found", async () => {
  for (const args of [["--cluster", sb.info.clusterName], ["-g", sb.info.resourceGroup], ["-g", sb.info.nodeResourceGroup]]) {
    const r = await runDoctor(sb, args);
    assert.notEqual(r.code, 2, `${args.join(" ")}: a usage error`);
    assertStatus(r.report, "network-plugin", "ok");
    assert.equal(checkOf(r.report, "kubelet-roles").status, "ok", args.join(" "));
  }
  assert.equal(checkOf((await runDoctor(sb, ["-g", "no-such-group"])).report, "network-plugin").status, "skipped");
});
