import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { CoreV1Api, CustomObjectsApi, KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { runPodid } from "../helpers/cli.js";
import { applyPre16Crds } from "../helpers/crds.js";
import { eventually } from "../helpers/eventually.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";

let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
const podid = (args: string[]) => runPodid(args, { env: sb.env });
const installArgs = (...extra: string[]) => ["install", "--cluster", sb.info.clusterName, "-g", sb.info.resourceGroup, "--no-wait", ...extra];

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
});

after(async () => sb?.stop());

const all = async <T>(iter: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
};

async function setNetworkPlugin(plugin: string): Promise<void> {
  const aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  const cluster = await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName);
  await aks.managedClusters.beginCreateOrUpdateAndWait(sb.info.resourceGroup, sb.info.clusterName, { ...cluster, networkProfile: { ...cluster.networkProfile, networkPlugin: plugin } }, { updateIntervalInMs: 10 });
}

test("--dry-run -o yaml prints the manifests and applies nothing", async () => {
  const r = await podid([...installArgs(), "--dry-run", "-o", "yaml"]);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubernetesObject);
  assert.deepEqual(
    docs.map((d) => d.kind),
    ["CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "ServiceAccount", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "DaemonSet", "AzurePodIdentityException", "AzurePodIdentityException"],
  );
  assert.match(r.stdout, /^# azure: create kubelet identity: Virtual Machine Contributor on \/subscriptions\/.*\/resourceGroups\/MC_/m);
  const api = KubernetesObjectApi.makeApiClient(clients.kc);
  await assert.rejects(api.read({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "podid-mic", namespace: "kube-system" } }));
});

test("a caller who may not grant roles is told which action is missing and both ways out; nothing is applied", async () => {
  const weak = JSON.parse((await runPodid(["sandbox", "principal", "add", "--dir", sb.dir, "--display-name", "contributor-only"])).stdout) as { clientId: string; objectId: string; secretFile: string };
  const subscription = `/subscriptions/${sb.info.subscriptionId}`;
  const contributor = (await clients.auth.roleDefinitions.list(subscription, { filter: "roleName eq 'Contributor'" }).next()).value;
  await clients.auth.roleAssignments.create(subscription, randomUUID(), { roleDefinitionId: contributor.id, principalId: weak.objectId, principalType: "ServicePrincipal" });
  const secret = readFileSync(weak.secretFile, "utf8");
  const r = await runPodid(installArgs(), { env: { ...sb.env, AZURE_CLIENT_ID: weak.clientId, AZURE_CLIENT_SECRET: secret } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^ERROR: kubelet identity: Virtual Machine Contributor on .*\(AuthorizationFailed\): principal .* may not perform 'Microsoft.Authorization\/roleAssignments\/write'/);
  assert.match(r.stderr, /^Grant it, e.g.: az role assignment create --assignee-object-id [0-9a-f-]+ .*--role "Role Based Access Control Administrator"/m);
  assert.match(r.stderr, /^Or have an Owner grant the kubelet identity its role: az role assignment create .*--role "Virtual Machine Contributor" --scope \/subscriptions\/.*\/resourceGroups\/MC_.*; then run podid install --skip-role-assignments\.$/m);
  assert.ok(!r.stderr.includes(secret));
  const api = KubernetesObjectApi.makeApiClient(clients.kc);
  await assert.rejects(api.read({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "podid-mic", namespace: "kube-system" } }), "the cluster is untouched when Azure refuses");
});

test("install applies everything and grants the kubelet identity its roles; a re-run is unchanged; what was applied is what dry-run printed", async () => {
  const r = await podid(installArgs());
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(out.steps.every((s: { outcome: string }) => s.outcome === "created"), r.stdout);
  const kubelet = (await new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] }).managedClusters.get(sb.info.resourceGroup, sb.info.clusterName)).identityProfile!.kubeletidentity!.objectId!;
  const grants = [];
  for await (const a of clients.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${kubelet}'` })) grants.push(a.roleDefinitionId!.split("/").pop());
  assert.ok(grants.includes("9980e02c-c2be-4d73-94e8-173b1dc7cf3c"), "Virtual Machine Contributor");
  assert.ok(grants.includes("f1a07417-d97a-45cb-824c-7a7467783830"), "Managed Identity Operator");

  const again = await podid(installArgs());
  assert.equal(again.code, 0, again.stderr);
  assert.ok(JSON.parse(again.stdout).steps.every((s: { outcome: string }) => s.outcome === "unchanged"), again.stdout);

  const printed = parseAllDocuments((await podid([...installArgs(), "--dry-run", "-o", "yaml"])).stdout).map((d) => d.toJS() as KubernetesObject & { spec?: unknown });
  const api = KubernetesObjectApi.makeApiClient(clients.kc);
  for (const doc of printed) {
    const live = (await api.read(doc as never)) as KubernetesObject & { spec?: unknown };
    if (doc.spec !== undefined && doc.kind !== "CustomResourceDefinition" && doc.kind !== "Deployment" && doc.kind !== "DaemonSet") assert.deepEqual(live.spec, doc.spec, `${doc.kind} ${doc.metadata?.name}`);
    assert.deepEqual(live.metadata?.labels, { ...live.metadata?.labels, ...doc.metadata?.labels });
  }
});

test("kubenet is refused with the reason and the flag; --kubenet installs with the warning", async () => {
  await setNetworkPlugin("kubenet");
  try {
    const refused = await podid(installArgs());
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^ERROR: cluster podid-aks uses the kubenet network plugin: .*CVE-2021-1677/);
    assert.match(refused.stderr, /run again with --kubenet/);
    const allowed = await podid(installArgs("--kubenet"));
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /WARNING: installing on kubenet/);
    const api = KubernetesObjectApi.makeApiClient(clients.kc);
    const nmi = (await api.read({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "podid-nmi", namespace: "kube-system" } })) as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    assert.ok(nmi.spec.template.spec.containers[0].args.includes("--allow-network-plugin-kubenet=true"));
  } finally {
    await setNetworkPlugin("azure");
  }
});

test("on a cluster whose nodes do not hold the runtime image, install warns that it must be built and pushed first", async () => {
  const plain = await podid([...installArgs(), "--dry-run"]);
  assert.doesNotMatch(plain.stderr, /not published/, "the sandbox's nodes hold podid's images, as they report in status.images");
  const r = await podid([...installArgs("--image-tag", "9.9.9"), "--dry-run"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /WARNING: the runtime image ghcr\.io\/podid\/podid-runtime:9\.9\.9 is not published to a registry yet and no node has it: .*build and push it .*--image <registry>\/podid-runtime, or install the upstream images with --runtime upstream/);
  const upstream = await podid([...installArgs("--image-tag", "9.9.9", "--runtime", "upstream"), "--dry-run"]);
  assert.doesNotMatch(upstream.stderr, /not published/);
});

const kubeletGrants = async () => {
  const aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  const kubelet = (await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName)).identityProfile!.kubeletidentity!.objectId!;
  const out = [];
  for await (const a of clients.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${kubelet}'` })) out.push(a);
  return out;
};

const AAD = { group: "aadpodidentity.k8s.io", version: "v1", plural: "azureidentities" };
/** An AzureIdentity made by hand (as `kubectl apply` would), with the annotations given. */
async function handMadeIdentity(namespace: string, name: string, resourceID: string, annotations: Record<string, string>): Promise<void> {
  const core = clients.kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
  const custom = clients.kc.makeApiClient(CustomObjectsApi);
  await custom.createNamespacedCustomObject({ ...AAD, namespace, body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name, annotations }, spec: { type: 0, resourceID, clientID: randomUUID() } } });
}
const grantKeys = (list: { principalId?: string; roleDefinitionId?: string; scope?: string }[]) => list.map((a) => `${a.principalId}|${a.roleDefinitionId!.split("/").pop()}|${a.scope!.toLowerCase()}`).sort();

test("an AzureIdentity's record cannot make podid remove the kubelet's grants or another identity's (identity delete, uninstall)", async () => {
  assert.equal((await podid(installArgs())).code, 0);
  const api = KubernetesObjectApi.makeApiClient(clients.kc);
  const mic = await api.read({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "podid-mic", namespace: "kube-system" } });
  const installRecord = mic.metadata!.annotations!["podid.io/role-assignments"];
  const installed = grantKeys(JSON.parse(installRecord));
  assert.equal(installed.length, 2, installRecord);
  assert.deepEqual(grantKeys(await kubeletGrants()), installed);

  // Someone who may edit AzureIdentities in namespace team copies install's record onto one of theirs.
  const nowhere = `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nowhere`;
  await handMadeIdentity("team", "evil", nowhere, { "podid.io/role-assignments": installRecord, "podid.io/azure-principal-id": randomUUID() });
  const r = await podid(["identity", "delete", "-n", "evil", "--namespace", "team", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /WARNING: AzureIdentity team\/evil: role assignment Virtual Machine Contributor at \/subscriptions\/.*\/MC_\S+ for principal \S+ is one of the kubelet's grants podid install recorded on the MIC Deployment, not this identity's; it is ignored/);
  assert.match(r.stderr, /WARNING: AzureIdentity team\/evil: role assignment Managed Identity Operator at \/subscriptions\/\S+ for principal \S+ is one of the kubelet's grants podid install recorded/);
  assert.deepEqual(grantKeys(await kubeletGrants()), installed, "the kubelet keeps both grants install made");
  await assert.rejects(clients.kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ ...AAD, namespace: "team", name: "evil" }));

  // Another identity's grant forged into a record: uninstall removes only the kubelet's grants, never that one.
  const victim = await podid(["identity", "add", "-n", "victim", "-g", sb.info.resourceGroup, "--role", "Reader", "--namespace", "default"]);
  assert.equal(victim.code, 0, victim.stderr);
  const { principalId, resourceId } = JSON.parse(victim.stdout);
  const own = async () => grantKeys(await all(clients.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${principalId}'` })));
  const reader = await own();
  assert.equal(reader.length, 1);
  const [p, role, scope] = reader[0].split("|");
  const forged = JSON.stringify([{ principalId: p, roleDefinitionId: `/subscriptions/${sb.info.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role}`, scope }]);
  await handMadeIdentity("team", "evil-u", nowhere, { "podid.io/role-assignments": forged, "podid.io/azure-principal-id": randomUUID() });
  const u = await podid(["uninstall", "--force", "--yes"]);
  assert.equal(u.code, 0, u.stderr);
  assert.match(u.stderr, /WARNING: AzureIdentity team\/evil-u: role assignment Reader at .* is neither the identity's own .*; it is ignored/);
  assert.deepEqual(await own(), reader, "the victim identity's Reader is left");
  assert.deepEqual(await kubeletGrants(), [], "the kubelet's grants podid made are gone (install's, and the one on the victim identity)");
  const d = await podid(["identity", "delete", "-n", "victim", "--namespace", "default", "-g", sb.info.resourceGroup, "--yes"]);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(await own(), []);
  await assert.rejects(clients.msi.userAssignedIdentities.get(sb.info.resourceGroup, "victim"), (e: { statusCode?: number }) => e.statusCode === 404);
  assert.ok(resourceId);
});

test("install records the kubelet's grants it made; uninstall --delete-identities deletes podid's identities with what podid made for them, then the grants and the manifests", async () => {
  assert.equal((await podid(installArgs())).code, 0);
  const added = await podid(["identity", "add", "-n", "gone-with-uninstall", "-g", sb.info.resourceGroup, "--role", "Reader", "--namespace", "default"]);
  assert.equal(added.code, 0, added.stderr);
  const principal = JSON.parse(added.stdout).principalId;
  assert.ok((await kubeletGrants()).length >= 2);
  const r = await podid(["uninstall", "--delete-identities", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.context, "podid-aks");
  assert.ok(out.removes.includes("identity gone-with-uninstall"), out.removes.join("\n"));
  await assert.rejects(clients.msi.userAssignedIdentities.get(sb.info.resourceGroup, "gone-with-uninstall"), (e: { statusCode?: number }) => e.statusCode === 404);
  const left = [];
  for await (const a of clients.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${principal}'` })) left.push(a);
  assert.deepEqual(left, []);
  assert.deepEqual(await kubeletGrants(), [], "install's grants (Virtual Machine Contributor, Managed Identity Operator) are removed");
  const api = KubernetesObjectApi.makeApiClient(clients.kc);
  await assert.rejects(api.read({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "azureidentities.aadpodidentity.k8s.io" } }));
});

test("uninstall: --dry-run prints the plan; it refuses while an AzureIdentity exists; the prompt names the context and what goes; --force removes everything and says what stays", async () => {
  assert.equal((await podid(installArgs())).code, 0);
  const custom = clients.kc.makeApiClient(CustomObjectsApi);
  await custom.createNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: "default", plural: "azureidentities", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: "left-id" }, spec: { type: 0, resourceID: "/x", clientID: "y" } } });
  const grants = (await kubeletGrants()).length;
  const plan = await podid(["uninstall", "--dry-run"]);
  assert.equal(plan.code, 0, plan.stderr);
  const planned = JSON.parse(plan.stdout);
  assert.equal(planned.dryRun, true);
  assert.ok(planned.removes.some((x: string) => /^role assignment Virtual Machine Contributor at \/subscriptions\/.*\/MC_\S+ for the kubelet identity/.test(x)), planned.removes.join("\n"));
  assert.ok(planned.removes.includes("CustomResourceDefinition azureidentities.aadpodidentity.k8s.io"));
  assert.ok(planned.removes.includes("1 AzureIdentity with the CRDs (default/left-id)"));
  assert.match(plan.stderr, /WARNING: without --force, uninstall refuses: 1 AzureIdentity still exists \(default\/left-id\)/);
  assert.equal((await kubeletGrants()).length, grants, "a dry run removes nothing");
  const api = KubernetesObjectApi.makeApiClient(clients.kc);
  await api.read({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "podid-nmi", namespace: "kube-system" } });

  const refused = await podid(["uninstall", "--yes"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^ERROR: 1 AzureIdentity still exists \(default\/left-id\)/);
  const unconfirmed = await podid(["uninstall", "--force"]);
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /^ERROR: refusing to uninstall podid from kubeconfig context 'podid-aks', removing: role assignment Virtual Machine Contributor .*; DaemonSet kube-system\/podid-nmi; .*; 1 AzureIdentity with the CRDs \(default\/left-id\) without confirmation/);
  assert.doesNotMatch(unconfirmed.stderr, /https:\/\/127/, "the context, not the server URL");

  const removed = await podid(["uninstall", "--yes", "--force"]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stderr, /iptables -t nat -D PREROUTING -j aad-metadata/);
  assert.deepEqual(await kubeletGrants(), []);
  await assert.rejects(api.read({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "podid-nmi", namespace: "kube-system" } }));
  await assert.rejects(api.read({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "azureidentities.aadpodidentity.k8s.io" } }));
  const again = await podid(["uninstall", "--yes"]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(JSON.parse(again.stdout).steps.every((s: { outcome: string }) => s.outcome === "absent"));
});

test("over aad-pod-identity's pre-1.6 CRDs (no schema) with objects spelled the old way: install refuses before the API server would drop those fields, a dry run says so; re-applied with v1 names, install goes ahead", async () => {
  await applyPre16Crds(clients.kc);
  const custom = clients.kc.makeApiClient(CustomObjectsApi);
  const at = { group: "aadpodidentity.k8s.io", version: "v1", namespace: "default", plural: "azureidentities" };
  const resourceID = `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/old-id`;
  await eventually("the pre-1.6 kinds are served", () => custom.listNamespacedCustomObject(at).then(() => true, () => false));
  await custom.createNamespacedCustomObject({ ...at, body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: "old-id" }, spec: { type: 0, ResourceID: resourceID, ClientID: "00000000-0000-0000-0000-0000000000aa" } } });
  const crdSchema = async () => ((await KubernetesObjectApi.makeApiClient(clients.kc).read({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "azureidentities.aadpodidentity.k8s.io" } })) as { spec: { versions: { schema?: { openAPIV3Schema?: { properties?: object } } }[] } }).spec.versions[0].schema?.openAPIV3Schema?.properties;

  const dry = await podid([...installArgs(), "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stderr, /WARNING: install would stop here: .*AzureIdentity default\/old-id \((ClientID=.*ResourceID=|ResourceID=.*ClientID=)/);
  const refused = await podid(installArgs());
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /^ERROR: the CustomResourceDefinitions .*azureidentities\.aadpodidentity\.k8s\.io.* have no schema .*AzureIdentity default\/old-id/);
  assert.equal(await crdSchema(), undefined, "the CRDs were not replaced");
  const kept = (await custom.getNamespacedCustomObject({ ...at, name: "old-id" })) as { spec: Record<string, unknown> };
  assert.equal(kept.spec.ClientID, "00000000-0000-0000-0000-0000000000aa", "the object keeps its fields");

  await custom.replaceNamespacedCustomObject({ ...at, name: "old-id", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: "old-id", resourceVersion: (kept as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion }, spec: { type: 0, resourceID: resourceID, clientID: "00000000-0000-0000-0000-0000000000aa" } } });
  const installed = await podid(installArgs());
  assert.equal(installed.code, 0, installed.stderr);
  assert.ok(await crdSchema(), "podid's CRDs (with their schema) are in place");
  const read = (await custom.getNamespacedCustomObject({ ...at, name: "old-id" })) as { spec: Record<string, unknown> };
  assert.deepEqual(read.spec, { type: 0, resourceID: resourceID, clientID: "00000000-0000-0000-0000-0000000000aa" });
});
