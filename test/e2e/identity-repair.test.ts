import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { RoleAssignment } from "@azure/arm-authorization";
import type { Identity } from "@azure/arm-msi";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { CustomObjectsApi, type V1Pod } from "@kubernetes/client-node";
import { KubeSession } from "../../src/kube/session.js";
import { createPod, waitForPodEnd } from "../../src/kube/pods.js";
import { demoPod, labelledPodOk, type DemoInput } from "../../src/core/demo.js";
import { DEMO_IMAGE } from "../../src/render/install.js";
import { PACKAGE_VERSION } from "../../src/util/package-info.js";
import { RECORD_ANNOTATIONS } from "../../src/core/record.js";
import { runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { applyFix, checkOf, findingOf, runDoctor } from "../helpers/doctor.js";
import { eventually } from "../helpers/eventually.js";
import { MANAGED_IDENTITY_OPERATOR } from "../helpers/roles.js";

// The repair paths of issue 14, as a user walks them: the walkthrough's identity in the node resource group
// (`-g MC_...`, the cluster found from the kubeconfig context), then the AzureIdentity deleted, then the Azure
// identity deleted out of band, each repaired by the fix doctor prints; then `uninstall --force` and a delete
// that still removes everything podid made in Azure. After each: Azure (arm-msi, arm-authorization) and the
// cluster hold exactly what they should, and pods get tokens through NMI.
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const GROUP = "aadpodidentity.k8s.io";

let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let custom: CustomObjectsApi;
let kube: KubeSession;
let kubelet: string;
let nodeScope: string;

const all = async <T>(iter: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
};
const podid = async (...args: string[]) => {
  const r = await runPodid(args, { env: sb.env, timeoutMs: 240_000 });
  assert.equal(r.code, 0, `podid ${args.join(" ")}: ${r.stderr}`);
  return r;
};
/** Every user-assigned identity of that name in the subscription. */
const identitiesNamed = async (name: string) => (await all(clients.msi.userAssignedIdentities.listBySubscription())).filter((i) => i.name === name);
const assignmentsOf = (principalId: string) => all(clients.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${principalId}'` }));
const roleOf = (a: RoleAssignment) => a.roleDefinitionId!.split("/").pop()!.toLowerCase();
const azureIdentity = async () => (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "demo" })) as { metadata: { annotations: Record<string, string> }; spec: { clientID: string; resourceID: string } };

/** What the demo identity should be now: one identity in the node resource group, Reader there for its principal only. */
async function exactlyOneIdentityWithItsRoles(): Promise<Identity> {
  const found = await identitiesNamed("demo");
  assert.equal(found.length, 1, `one identity named demo: ${found.map((i) => i.id).join(", ")}`);
  const [identity] = found;
  assert.equal(identity.id!.toLowerCase(), `${nodeScope}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/demo`.toLowerCase());
  const roles = await assignmentsOf(identity.principalId!);
  assert.deepEqual(roles.map((a) => [roleOf(a), a.scope!.toLowerCase()]), [[READER, nodeScope.toLowerCase()]]);
  const live = await azureIdentity();
  assert.equal(live.spec.clientID, identity.clientId);
  assert.equal(live.metadata.annotations[RECORD_ANNOTATIONS.principalId], identity.principalId);
  assert.equal(live.metadata.annotations[RECORD_ANNOTATIONS.createdByPodid], "true");
  return identity;
}

/** A demo pod labelled for the binding that keeps running (a pod that has ended asks for no identity again). */
function runningDemoPod(name: string): V1Pod {
  const pod = demoPod(name, { image: `${DEMO_IMAGE}:${PACKAGE_VERSION}`, target: { subscriptionId: sb.info.subscriptionId, nodeResourceGroup: sb.info.nodeResourceGroup } } as DemoInput, "", true);
  pod.spec!.containers[0].args = ["--subscription-id", sb.info.subscriptionId, "--resource-group", sb.info.nodeResourceGroup, "--interval", "3600s"];
  return pod;
}

/** A demo pod labelled for the binding: it gets a token for `clientId` through NMI and lists the VMs with it. */
async function podGetsToken(name: string, clientId: string): Promise<void> {
  const input = { image: `${DEMO_IMAGE}:${PACKAGE_VERSION}`, target: { subscriptionId: sb.info.subscriptionId, resourceGroup: sb.info.resourceGroup, clusterName: sb.info.clusterName, nodeResourceGroup: sb.info.nodeResourceGroup } } as DemoInput;
  const pod = demoPod(name, input, clientId, true);
  await createPod(kube, pod, 60_000);
  const ended = await waitForPodEnd(kube, "default", name, { timeoutMs: 120_000 });
  const log = await kube.podLog("default", name).catch((e: Error) => e.message);
  assert.ok(labelledPodOk(ended.pod?.status?.phase, log, clientId), `${name} did not get a token for ${clientId}: ${log}`);
}

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
  custom = clients.kc.makeApiClient(CustomObjectsApi);
  kube = new KubeSession(clients.kc, "default");
  nodeScope = `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.nodeResourceGroup}`;
  const aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  kubelet = (await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName)).identityProfile!.kubeletidentity!.objectId!;
  await podid("install", "--timeout", "180", "-o", "none");
});

after(async () => sb?.stop());

test("identity add -g MC_...: the cluster is found from the kubeconfig context; the AzureIdentity records what podid made", async () => {
  const r = await podid("identity", "add", "-n", "demo", "-g", sb.info.nodeResourceGroup, "--role", "Reader", "--binding-selector", "demo");
  const out = JSON.parse(r.stdout);
  const identity = await exactlyOneIdentityWithItsRoles();
  assert.equal(out.clientId, identity.clientId);
  const live = await azureIdentity();
  const made = JSON.parse(live.metadata.annotations[RECORD_ANNOTATIONS.roleAssignments]) as { principalId: string; roleDefinitionId: string; scope: string }[];
  assert.deepEqual(
    made.map((g) => [g.principalId, g.roleDefinitionId.split("/").pop(), g.scope.toLowerCase()]).sort(),
    [
      [identity.principalId, READER, nodeScope.toLowerCase()],
      [kubelet, MANAGED_IDENTITY_OPERATOR, identity.id!.toLowerCase()],
    ].sort(),
    "the identity's Reader and the kubelet's Managed Identity Operator on it (install granted that role on the cluster's group only)",
  );
  assert.equal(live.metadata.annotations[RECORD_ANNOTATIONS.resourceId], identity.id);
  await podGetsToken("token-1", identity.clientId!);
});

test("the AzureIdentity deleted: doctor's fix re-creates it from what podid made (no second identity); a wrong group is refused", async () => {
  const before = await azureIdentity();
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "demo" });
  const r = await runDoctor(sb, ["-A"]);
  const f = findingOf(r.report, "bindings", /names AzureIdentity 'demo', which does not exist in namespace default/);
  assert.equal(f.fix, `podid identity add -n demo -g ${sb.info.nodeResourceGroup} --namespace default --cluster ${sb.info.clusterName} --cluster-resource-group ${sb.info.resourceGroup} --role Reader --scope ${nodeScope}`);

  const wrong = await runPodid(["identity", "add", "-n", "demo", "-g", sb.info.resourceGroup], { env: sb.env });
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.match(wrong.stderr, /^ERROR: identity demo: podid already made or adopted identity \/subscriptions\/.*\/MC_.*\/demo for AzureIdentity default\/demo .*this would create a second one/m);
  assert.equal((await identitiesNamed("demo")).length, 1, "nothing made");

  await applyFix(sb, f.fix);
  await exactlyOneIdentityWithItsRoles();
  assert.deepEqual((await azureIdentity()).metadata.annotations, before.metadata.annotations, "the record is as it was");
  const fixed = await runDoctor(sb, ["-A"]);
  for (const id of ["bindings", "azure-identities", "recreated-identity", "kubelet-roles"]) assert.equal(checkOf(fixed.report, id).status, "ok", id);
  await podGetsToken("token-2", (await azureIdentity()).spec.clientID);
});

test("recorded role assignments deleted by hand (the identity's Reader, the kubelet's on it): doctor's fixes grant them again where they were", async () => {
  const identity = (await identitiesNamed("demo"))[0];
  for (const a of [...(await assignmentsOf(identity.principalId!)), ...(await assignmentsOf(kubelet)).filter((x) => x.scope!.toLowerCase() === identity.id!.toLowerCase())]) await clients.auth.roleAssignments.deleteById(a.id!);
  const r = await runDoctor(sb, ["-A"]);
  const reader = findingOf(r.report, "azure-identities", /AzureIdentity default\/demo's identity lacks Reader at \/subscriptions\/.*\/MC_\S+, recorded on the AzureIdentity as what it holds/);
  const operator = findingOf(r.report, "kubelet-roles", /may not assign .*\/demo \(AzureIdentity default\/demo\)/);
  const fix = `podid identity add -n demo -g ${sb.info.nodeResourceGroup} --namespace default --cluster ${sb.info.clusterName} --cluster-resource-group ${sb.info.resourceGroup} --role Reader --scope ${nodeScope}`;
  assert.equal(reader.fix, fix);
  assert.ok(operator.fix!.startsWith(`${fix}   # or: az role assignment create`), "the kubelet's grant goes back on the identity, where podid made it, not on a whole group");
  await applyFix(sb, reader.fix);
  await exactlyOneIdentityWithItsRoles();
  assert.ok((await assignmentsOf(kubelet)).some((x) => x.scope!.toLowerCase() === identity.id!.toLowerCase() && roleOf(x) === MANAGED_IDENTITY_OPERATOR));
  const fixed = await runDoctor(sb, ["-A"]);
  for (const id of ["azure-identities", "kubelet-roles"]) assert.equal(checkOf(fixed.report, id).status, "ok", id);
});

test("the binding deleted by hand: doctor's fix applies it again from the AzureIdentity's record", async () => {
  await createPod(kube, runningDemoPod("labelled"), 60_000);
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "demo-binding" });
  const r = await runDoctor(sb, ["-A"]);
  const f = findingOf(r.report, "pod-labels", /Pod default\/labelled is labelled aadpodidbinding=demo, but AzureIdentityBinding default\/demo-binding, which podid made for it \(AzureIdentity default\/demo records it\), is gone/);
  assert.equal(f.fix, "podid bind --selector demo --identity demo --namespace default --name demo-binding");
  await applyFix(sb, f.fix);
  const binding = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "demo-binding" })) as { spec: unknown };
  assert.deepEqual(binding.spec, { azureIdentity: "demo", selector: "demo" });
  assert.equal(checkOf((await runDoctor(sb, ["-A"])).report, "pod-labels").status, "ok");
  assert.deepEqual(JSON.parse((await azureIdentity()).metadata.annotations[RECORD_ANNOTATIONS.bindings]), [{ name: "demo-binding", selector: "demo" }]);
});

test("the Azure identity deleted out of band: doctor's fix re-creates it with its roles and re-applies the AzureIdentity; doctor is not ok until the pods' assignments carry the new client id", async () => {
  // A pod that holds the identity, and MIC stopped, so that the assignments keep the old client id for a while.
  await createPod(kube, runningDemoPod("holder"), 60_000);
  const old = (await identitiesNamed("demo"))[0];
  await eventually("the holder pod's assignment", async () => (await runDoctor(sb, ["--namespace", "default", "--probe", "--pod", "holder"])).report.checks.find((c) => c.id === "probe")!.status === "ok", { timeoutMs: 90_000, intervalMs: 1000 });
  const kubectl = (args: string) => runShell(`kubectl ${args}`, { env: sb.env });
  assert.equal((await kubectl("scale deployment podid-mic -n kube-system --replicas=0")).code, 0);
  await eventually("MIC stopped", async () => !(await kubectl("get pods -n kube-system -l app.kubernetes.io/component=mic -o name")).stdout.trim(), { timeoutMs: 60_000, intervalMs: 500 });

  await clients.msi.userAssignedIdentities.delete(sb.info.nodeResourceGroup, "demo");
  const r = await runDoctor(sb, ["-A"]);
  const f = findingOf(r.report, "azure-identities", /AzureIdentity default\/demo names .*\/demo, which does not exist in Azure/);
  assert.equal(f.fix, `podid identity add -n demo -g ${sb.info.nodeResourceGroup} --namespace default --cluster ${sb.info.clusterName} --cluster-resource-group ${sb.info.resourceGroup} --role Reader --scope ${nodeScope}`);
  await applyFix(sb, f.fix);
  const now = await exactlyOneIdentityWithItsRoles();
  assert.notEqual(now.principalId, old.principalId);
  assert.deepEqual(await assignmentsOf(old.principalId!), [], "the old principal's grants are gone");

  const stale = await runDoctor(sb, ["-A"]);
  findingOf(stale.report, "recreated-identity", new RegExp(`pod default/holder is assigned AzureIdentity default/demo with client id ${old.clientId} .* but .* has client id ${now.clientId}`));
  assert.notEqual(stale.code, 0);

  assert.equal((await kubectl("scale deployment podid-mic -n kube-system --replicas=2")).code, 0);
  await eventually(
    "doctor ok once MIC re-assigned the identity",
    async () => {
      const d = await runDoctor(sb, ["--namespace", "default", "--probe", "--pod", "holder"]);
      for (const id of ["azure-identities", "recreated-identity", "kubelet-roles", "probe"]) assert.equal(checkOf(d.report, id).status, "ok", `${id}: ${JSON.stringify(checkOf(d.report, id))}`);
      assert.equal(checkOf(d.report, "probe").observed.clientIdAsked, now.clientId, "the probe asks with the client id of the pod's assignment");
      assert.equal(checkOf(d.report, "probe").observed.clientId, now.clientId);
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  await podGetsToken("token-3", now.clientId!);
});

test("after uninstall --force: list says podid is not installed, and identity delete -g removes everything podid made in Azure", async () => {
  const identity = (await identitiesNamed("demo"))[0];
  const u = await podid("uninstall", "--force", "--yes");
  assert.match(u.stderr, /left in place: identity .*\/demo \(podid created it\) and its role assignments \(Reader at .*\), of AzureIdentity default\/demo: remove with podid identity delete -n demo --namespace default -g MC_\S+ --yes/);
  assert.deepEqual((await assignmentsOf(kubelet)).filter((a) => (a.description ?? "").startsWith("podid: ")), [], "the kubelet's grants podid made are gone");

  const list = await runPodid(["identity", "list"], { env: sb.env });
  assert.equal(list.code, 1);
  assert.match(list.stderr, /^ERROR: podid is not installed in this cluster \(kubeconfig context 'podid-aks'\)/);
  for (const args of [["exception", "list"], ["exception", "add", "-n", "e1", "--pod-labels", "a=b"]]) {
    const r = await runPodid(args, { env: sb.env });
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^ERROR: podid is not installed in this cluster \(kubeconfig context 'podid-aks'\)/, args.join(" "));
  }
  // A delete has nothing to do there: the exception went with the CRDs.
  const gone = await runPodid(["exception", "delete", "-n", "e1", "--yes"], { env: sb.env });
  assert.equal(gone.code, 0, gone.stderr);
  assert.deepEqual(JSON.parse(gone.stdout).steps.map((x: { outcome: string }) => x.outcome), ["absent"]);
  // Not installed is no answer for a cluster that cannot be read at all: that cause is said as itself.
  const noCluster = await runPodid(["identity", "list", "--kubeconfig", "/nonexistent/kubeconfig"], { env: sb.env });
  assert.equal(noCluster.code, 2);
  assert.doesNotMatch(noCluster.stderr, /not installed/);
  const unknown = await runPodid(["identity", "delete", "-n", "nosuch", "--yes"], { env: sb.env });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^ERROR: podid is not installed in this cluster.*\nTo remove the Azure side podid made for it, pass -g GROUP/);
  const plan = await podid("identity", "delete", "-n", "demo", "--dry-run", "--yes");
  assert.deepEqual(
    JSON.parse(plan.stdout).steps.map((x: { step: string; action: string }) => [x.step.replace(/ at .*/, ""), x.action]),
    [["role assignment Reader", "delete"], ["identity demo", "delete"]],
    "without -g, the identity podid made is found by its role assignments",
  );

  await podid("identity", "delete", "-n", "demo", "-g", sb.info.nodeResourceGroup, "--yes");
  assert.deepEqual(await identitiesNamed("demo"), []);
  assert.deepEqual(await assignmentsOf(identity.principalId!), []);
  const left = (await all(clients.auth.roleAssignments.listForSubscription())).filter((a) => (a.description ?? "").startsWith("podid: "));
  assert.deepEqual(left, [], "nothing podid made is left in Azure");
});
