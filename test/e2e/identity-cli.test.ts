import { after, before, test } from "node:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { type ManagedServiceIdentityClient } from "@azure/arm-msi";
import { type AuthorizationManagementClient } from "@azure/arm-authorization";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { applyFix, findingOf, runDoctor } from "../helpers/doctor.js";
import { runPodid, runShell } from "../helpers/cli.js";
import { ESC, NO_PTY, withPodidInPty } from "../helpers/pty.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { applyShippedCrds } from "../helpers/crds.js";

let sb: SandboxFixture;
let msi: ManagedServiceIdentityClient;
let auth: AuthorizationManagementClient;
let custom: CustomObjectsApi;
let clients: ReturnType<typeof sandboxClients>;
const GROUP = "aadpodidentity.k8s.io";

const all = async <T>(iter: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
};

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
  msi = clients.msi;
  auth = clients.auth;
  custom = clients.kc.makeApiClient(CustomObjectsApi);
  // `podid install` (a later issue) brings the CRDs; these tests apply the shipped ones directly.
  await applyShippedCrds(clients.kc);
});

after(async () => sb?.stop());

const podid = (args: string[]) => runPodid(args, { env: sb.env });
const nodeGroupScope = () => `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.nodeResourceGroup}`;
const addArgs = (name: string, extra: string[] = []) => [
  "identity", "add", "-n", name, "-g", sb.info.resourceGroup,
  "--cluster", sb.info.clusterName, "--cluster-resource-group", sb.info.resourceGroup,
  "--role", "Reader", "--scope", nodeGroupScope(), "--namespace", "default", ...extra,
];

test("identity add + bind: the walkthrough's identity part, then a re-run is all unchanged", async () => {
  const first = await podid(addArgs("walk-id", ["--binding-selector", "walk"]));
  assert.equal(first.code, 0, first.stderr);
  const out = JSON.parse(first.stdout);
  assert.match(out.clientId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(out.steps.map((s: { outcome: string }) => s.outcome), ["created", "created", "created", "created", "created"]);

  const identity = await msi.userAssignedIdentities.get(sb.info.resourceGroup, "walk-id");
  assert.equal(identity.clientId, out.clientId);
  assert.equal(identity.tags?.["created-by"], "podid");
  const readers = await all(auth.roleAssignments.listForScope(nodeGroupScope(), { filter: `principalId eq '${identity.principalId}'` }));
  assert.equal(readers.filter((a) => a.scope?.toLowerCase() === nodeGroupScope().toLowerCase()).length, 1);
  const onIdentity = await all(auth.roleAssignments.listForScope(identity.id!, { filter: "atScope()" }));
  assert.ok(onIdentity.some((a) => a.roleDefinitionId?.endsWith("f1a07417-d97a-45cb-824c-7a7467783830")), "kubelet identity got Managed Identity Operator on the identity");

  const azureIdentity = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "walk-id" })) as { spec: Record<string, unknown> };
  assert.deepEqual(azureIdentity.spec, { type: 0, resourceID: identity.id, clientID: identity.clientId });
  const binding = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "walk-id-binding" })) as { spec: Record<string, unknown> };
  assert.deepEqual(binding.spec, { azureIdentity: "walk-id", selector: "walk" });

  const second = await podid(addArgs("walk-id", ["--binding-selector", "walk"]));
  assert.equal(second.code, 0, second.stderr);
  assert.ok(JSON.parse(second.stdout).steps.every((s: { outcome: string }) => s.outcome === "unchanged"), second.stdout);

  const repoint = await podid(addArgs("walk-id", ["--binding-selector", "other"]));
  assert.equal(repoint.code, 2);
  assert.match(repoint.stderr, /^ERROR: AzureIdentityBinding default\/walk-id-binding binds selector 'walk' to AzureIdentity 'walk-id'; changing its selector 'walk' to 'other' re-points it/);
  assert.match(repoint.stderr, /Re-point it with podid bind --selector other --identity walk-id --namespace default --force/);
  // identity add has no --name for the binding (its -n/--name is the identity): the way out names bind's.
  assert.match(repoint.stderr, /or bind the selector under a name of its own \(the same command with --name NAME instead of --force\)/);
});

test("--dry-run prints the plan and changes nothing", async () => {
  const r = await podid(addArgs("dry-id", ["--dry-run"]));
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.equal(plan.dryRun, true);
  assert.deepEqual(plan.steps.map((s: { action: string }) => s.action), ["create", "create", "create", "create"]);
  await assert.rejects(msi.userAssignedIdentities.get(sb.info.resourceGroup, "dry-id"), (e: { statusCode?: number }) => e.statusCode === 404);
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "dry-id" }));
});

test("render prints exactly what apply sent", async () => {
  const added = JSON.parse((await podid(addArgs("render-id"))).stdout);
  const rendered = await podid(["render", "identity", "-n", "render-id", "--namespace", "default", "--resource-id", added.resourceId, "--client-id", added.clientId, "-o", "json"]);
  assert.equal(rendered.code, 0, rendered.stderr);
  const [object] = JSON.parse(rendered.stdout);
  const live = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "render-id" })) as { spec: unknown; metadata: { labels: unknown } };
  assert.deepEqual(live.spec, object.spec);
  assert.deepEqual(live.metadata.labels, object.metadata.labels);
  const dryYaml = await podid(addArgs("render-id", ["--dry-run", "-o", "yaml"]));
  assert.match(dryYaml.stdout, /kind: AzureIdentity/);
});

test("-o formats and --query work on identity add and list", async () => {
  const tsv = await podid([...addArgs("fmt-id"), "-o", "tsv", "--query", "clientId"]);
  assert.equal(tsv.code, 0, tsv.stderr);
  assert.match(tsv.stdout.trim(), /^[0-9a-f-]{36}$/);
  const names = await podid(["identity", "list", "--namespace", "default", "--query", "[].name", "-o", "json"]);
  assert.ok(JSON.parse(names.stdout).includes("fmt-id"));
  const table = await podid(["identity", "list", "--namespace", "default", "-o", "table"]);
  assert.match(table.stdout.split("\n")[0], /^Name\s+Namespace\s+Selector\s+ClientId\s+State$/);
  assert.doesNotMatch(table.stdout, /\/subscriptions\//, "no resource ids in the table");
  const yaml = await podid(["identity", "list", "--namespace", "default", "-o", "yaml"]);
  assert.match(yaml.stdout, /azureState: ok/);
  assert.equal((await podid(["identity", "list", "-o", "none"])).stdout, "");
});

test("delete leaves nothing podid made, even when the Azure identity was deleted by hand", async () => {
  const added = JSON.parse((await podid(addArgs("gone-id", ["--binding-selector", "gone"]))).stdout);
  await msi.userAssignedIdentities.delete(sb.info.resourceGroup, "gone-id");
  const r = await podid(["identity", "delete", "-n", "gone-id", "--namespace", "default", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "gone-id" }));
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "gone-id-binding" }));
  const left = await all(auth.roleAssignments.listForSubscription({ filter: `principalId eq '${added.principalId}'` }));
  assert.equal(left.length, 0);

  const kept = JSON.parse((await podid(addArgs("full-id"))).stdout);
  const d = await podid(["identity", "delete", "-n", "full-id", "--namespace", "default", "--yes"]);
  assert.equal(d.code, 0, d.stderr);
  await assert.rejects(msi.userAssignedIdentities.get(sb.info.resourceGroup, "full-id"), (e: { statusCode?: number }) => e.statusCode === 404);
  const onIdentity = await all(auth.roleAssignments.listForSubscription({ filter: `principalId eq '${kept.principalId}'` }));
  assert.equal(onIdentity.length, 0);
});

test("two AzureIdentities sharing one Azure identity: deleting one keeps what the other records; deleting the other removes it all", async () => {
  const a = JSON.parse((await podid(addArgs("share-a"))).stdout);
  const adopt = await podid(["identity", "add", "-n", "share-b", "--identity-resource-id", a.resourceId, "--cluster", sb.info.clusterName, "--cluster-resource-group", sb.info.resourceGroup, "--role", "Reader", "--scope", nodeGroupScope(), "--namespace", "default"]);
  assert.equal(adopt.code, 0, adopt.stderr);
  assert.ok(JSON.parse(adopt.stdout).steps.every((s: { outcome: string }) => s.outcome === "unchanged" || s.outcome === "created"));
  const walk = (await msi.userAssignedIdentities.get(sb.info.resourceGroup, "walk-id")).id!;
  const move = await podid(["identity", "add", "-n", "share-b", "--identity-resource-id", walk, "--cluster", sb.info.clusterName, "--cluster-resource-group", sb.info.resourceGroup, "--namespace", "default"]);
  assert.equal(move.code, 2, "an AzureIdentity is not moved off an identity that still exists");
  assert.match(move.stderr, /^ERROR: AzureIdentity default\/share-b uses identity .*\/share-a, which still exists; this would point it at .*\/walk-id instead/);
  const grantsOf = async () => (await all(auth.roleAssignments.listForSubscription({ filter: `principalId eq '${a.principalId}'` }))).map((x) => x.scope!.toLowerCase());

  const first = await podid(["identity", "delete", "-n", "share-a", "--namespace", "default", "--yes"]);
  assert.equal(first.code, 0, first.stderr);
  const kept = JSON.parse(first.stdout).kept as string[];
  assert.ok(kept.some((k) => /^identity .*\/share-a: AzureIdentity default\/share-b uses it too$/.test(k)), kept.join("\n"));
  assert.ok(kept.some((k) => /^role assignment Reader at .* AzureIdentity default\/share-b records it too$/.test(k)), kept.join("\n"));
  assert.equal((await msi.userAssignedIdentities.get(sb.info.resourceGroup, "share-a")).principalId, a.principalId, "the identity share-b uses is kept");
  assert.deepEqual(await grantsOf(), [nodeGroupScope().toLowerCase()], "and its Reader");
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "share-a" }));

  const second = await podid(["identity", "delete", "-n", "share-b", "--namespace", "default", "--yes"]);
  assert.equal(second.code, 0, second.stderr);
  await absent("share-a");
  assert.deepEqual(await grantsOf(), []);
  // Run again once finished: nothing is left, so nothing is done, and it says so.
  const again = await podid(["identity", "delete", "-n", "share-b", "--namespace", "default", "--yes"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /WARNING: nothing of AzureIdentity default\/share-b exists \(deleted already, or another name/);
  assert.deepEqual(JSON.parse(again.stdout).steps, []);
});

test("annotations edited by hand: what is not podid's record is ignored with a warning, and delete removes only what podid made", async () => {
  const added = JSON.parse((await podid(addArgs("hand-id"))).stdout);
  const owner = (await all(auth.roleAssignments.listForScope(`/subscriptions/${sb.info.subscriptionId}`, { filter: "atScope()" }))).find((x) => x.roleDefinitionId!.endsWith("8e3af657-a8ff-443c-a75c-2fe8c4bcb635"))!;
  const forged = JSON.stringify([{ principalId: owner.principalId, roleDefinitionId: owner.roleDefinitionId, scope: owner.scope }, { principalId: "nobody", roleDefinitionId: "x", scope: "/" }]);
  const edit = await runShell(`kubectl annotate azureidentity hand-id --overwrite 'podid.io/role-assignments=${forged}' podid.io/azure-principal-id=someone`, { env: sb.env });
  assert.equal(edit.code, 0, edit.stderr);
  const r = await podid(["identity", "delete", "-n", "hand-id", "--namespace", "default", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /WARNING: AzureIdentity default\/hand-id: annotation podid\.io\/role-assignments: entry 2 is not a role assignment .*; it is ignored/);
  assert.match(r.stderr, /WARNING: AzureIdentity default\/hand-id: annotation podid\.io\/azure-principal-id is not a GUID; it is ignored/);
  const still = await all(auth.roleAssignments.listForScope(`/subscriptions/${sb.info.subscriptionId}`, { filter: "atScope()" }));
  assert.ok(still.some((x) => x.id === owner.id), "the CLI's Owner, forged into the record, is not podid's to remove");
  await absent("hand-id");
  assert.deepEqual(await all(auth.roleAssignments.listForSubscription({ filter: `principalId eq '${added.principalId}'` })), [], "what podid made is gone (found by the identity's principal)");
});

test("a hand-made AzureIdentity pointing at another namespace's identity: delete leaves that identity; once it and its AzureIdentity are gone by hand, doctor's fix has its roles and delete removes what podid left", async () => {
  await clients.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: "other" } } }).catch(() => undefined);
  await clients.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: "team" } } }).catch(() => undefined);
  const app = JSON.parse((await podid(addArgs("app", ["--binding-selector", "app"]).map((a) => (a === "default" ? "other" : a)))).stdout);
  const grantsOfApp = async () => (await all(auth.roleAssignments.listForSubscription())).filter((a) => a.principalId === app.principalId || a.scope?.toLowerCase() === app.resourceId.toLowerCase()).map((a) => a.id).sort();
  const made = await grantsOfApp();
  assert.equal(made.length, 2, "its Reader and the kubelet's Managed Identity Operator on it");
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "other", plural: "azureidentities", name: "app" });
  await custom.createNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "team", plural: "azureidentities", body: { apiVersion: `${GROUP}/v1`, kind: "AzureIdentity", metadata: { name: "evil2" }, spec: { type: 0, resourceID: app.resourceId, clientID: app.clientId } } });
  const r = await podid(["identity", "delete", "-n", "evil2", "--namespace", "team", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  const kept = JSON.parse(r.stdout).kept as string[];
  assert.ok(kept.some((k) => k.includes(`identity ${app.resourceId}: AzureIdentity team/evil2's record does not say podid created it for AzureIdentity team/evil2`) && k.includes(`az identity delete --ids ${app.resourceId}`)), kept.join("\n"));
  assert.equal((await msi.userAssignedIdentities.get(sb.info.resourceGroup, "app")).principalId, app.principalId, "the other namespace's identity is kept");
  assert.deepEqual(await grantsOfApp(), made, "with its role assignments");
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "team", plural: "azureidentities", name: "evil2" }));

  // Now the identity is deleted by hand too: only the role assignments podid made for other/app are left.
  await msi.userAssignedIdentities.delete(sb.info.resourceGroup, "app");
  const d = await runDoctor(sb, ["--namespace", "other"]);
  const f = findingOf(d.report, "bindings", /names AzureIdentity 'app', which does not exist in namespace other.*Its Azure identity is gone too; 2 role assignment\(s\) podid made for it are left/);
  assert.match(f.fix!, new RegExp(`^podid identity add -n app -g ${sb.info.resourceGroup} --namespace other .*--role Reader --scope ${nodeGroupScope()}$`));
  const gone = await podid(["identity", "delete", "-n", "app", "--namespace", "other", "--yes"]);
  assert.equal(gone.code, 0, gone.stderr);
  assert.deepEqual(await grantsOfApp(), [], "the orphaned Reader and the kubelet's grant on the deleted identity are removed");
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "other", plural: "azureidentitybindings", name: "app-binding" }));
});

test("a forged role in the record (Reader's name on Owner's definition): doctor names it as not podid's and builds no fix from it", async () => {
  const added = JSON.parse((await podid(addArgs("term1"))).stdout);
  const sub = `/subscriptions/${sb.info.subscriptionId}`;
  const live = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "term1" })) as { metadata: { annotations: Record<string, string> } };
  const roles = [...JSON.parse(live.metadata.annotations["podid.io/roles"]), { role: "Reader", roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635`, scope: sub }];
  const edit = await runShell(`kubectl annotate azureidentity term1 --overwrite 'podid.io/roles=${JSON.stringify(roles)}'`, { env: sb.env });
  assert.equal(edit.code, 0, edit.stderr);
  // The identity's real Reader revoked by hand, so doctor has a fix to print.
  for (const a of await all(auth.roleAssignments.listForSubscription({ filter: `principalId eq '${added.principalId}'` }))) await auth.roleAssignments.deleteById(a.id!);
  const d = await runDoctor(sb, ["--namespace", "default"]);
  findingOf(d.report, "azure-identities", new RegExp(`AzureIdentity default/term1 carries a record podid did not write: annotation podid\\.io/roles: the entry at ${sub} says role 'Reader' but its roleDefinitionId is 'Owner'; it is ignored`));
  const lacks = findingOf(d.report, "azure-identities", /AzureIdentity default\/term1's identity lacks /);
  assert.equal(lacks.message.split(":")[0], `AzureIdentity default/term1's identity lacks Reader at ${nodeGroupScope()}, recorded on the AzureIdentity as what it holds`);
  assert.doesNotMatch(lacks.fix!, new RegExp(`--scope ${sub}( |$)`));
  await applyFix(sb, lacks.fix);
  const now = await all(auth.roleAssignments.listForSubscription({ filter: `principalId eq '${added.principalId}'` }));
  assert.deepEqual(now.map((a) => [a.roleDefinitionId!.split("/").pop(), a.scope!.toLowerCase()]), [["acdd72a7-3385-48ef-bd42-f606fba81ae7", nodeGroupScope().toLowerCase()]], "Reader where it was, nothing at the subscription");
  const after = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentities", name: "term1" })) as { metadata: { annotations: Record<string, string> } };
  assert.deepEqual(JSON.parse(after.metadata.annotations["podid.io/roles"]).map((r: { scope: string }) => r.scope), [nodeGroupScope()], "the forged entry is dropped from the record");
  assert.equal((await podid(["identity", "delete", "-n", "term1", "--namespace", "default", "--yes"])).code, 0);
});

test("on a terminal, a missing --name is asked for, and the answer is used", { skip: NO_PTY }, async () => {
  const args = addArgs("").filter((a, i, list) => !(a === "-n" || list[i - 1] === "-n"));
  await withPodidInPty(args, sb.env, async (pty) => {
    await pty.shows(/Name of the identity/);
    pty.type("tty-id\r");
    assert.equal(await pty.exited, 0, pty.output());
  });
  const identity = await msi.userAssignedIdentities.get(sb.info.resourceGroup, "tty-id");
  assert.equal(identity.name, "tty-id");
});

test("--debug shows the HTTP trace with no secret or token in it", async () => {
  const secret = sb.env.AZURE_CLIENT_SECRET!;
  const r = await podid([...addArgs("debug-id"), "--debug"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /DEBUG: azure:core-rest-pipeline:info Request: \{\s*"url": "https:\/\/127\.0\.0\.1:\d+\/subscriptions\/[^"]*userAssignedIdentities\/debug-id/);
  assert.match(r.stderr, /Response status code: 201/);
  assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), "the client secret is never printed");
  assert.doesNotMatch(r.stderr + r.stdout, /eyJ[A-Za-z0-9_-]{10,}\./, "no JWT is printed");
});

const absent = async (name: string) =>
  assert.rejects(msi.userAssignedIdentities.get(sb.info.resourceGroup, name), (e: { statusCode?: number }) => e.statusCode === 404, `${name} was not created`);

test("bad input found only in Azure or the cluster: clear error, non-zero exit, nothing made", async () => {
  const unknownRole = await podid(["identity", "add", "-n", "bad-role-id", "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--role", "Superuser", "--namespace", "default"]);
  assert.equal(unknownRole.code, 2);
  assert.match(unknownRole.stderr, /^ERROR: unknown role 'Superuser'\nGive a role name such as Reader.*az role definition list/);
  await absent("bad-role-id");

  const noCluster = await podid(["identity", "add", "-n", "no-cluster-id", "-g", sb.info.resourceGroup, "--cluster", "nosuch-aks", "--namespace", "default"]);
  assert.equal(noCluster.code, 3);
  assert.match(noCluster.stderr, /^ERROR: AKS cluster 'nosuch-aks' was not found in resource group/);
  await absent("no-cluster-id");

  const noNamespace = await podid(["identity", "add", "-n", "no-ns-id", "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--namespace", "nosuch"]);
  assert.equal(noNamespace.code, 3);
  assert.match(noNamespace.stderr, /^ERROR: namespace 'nosuch' does not exist/);
  await absent("no-ns-id");

  const deadKubeconfig = join(sb.dir, "dead-kubeconfig");
  writeFileSync(deadKubeconfig, readFileSync(sb.env.KUBECONFIG!, "utf8").replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:9"));
  const unreachable = await podid(["identity", "add", "-n", "unreachable-id", "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--kubeconfig", deadKubeconfig]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /^ERROR: cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:9 .*\(ECONNREFUSED\)/);
  await absent("unreachable-id");

  const adoptMissing = await podid(["identity", "add", "-n", "adopt-id", "--namespace", "default", "--cluster", sb.info.clusterName, "--cluster-resource-group", sb.info.resourceGroup, "--identity-resource-id", `/subscriptions/${sb.info.subscriptionId}/resourcegroups/${sb.info.resourceGroup}/providers/microsoft.managedidentity/userassignedidentities/adopt-id`]);
  assert.equal(adoptMissing.code, 3);
  assert.match(adoptMissing.stderr, /identity \/subscriptions\/.*\/adopt-id does not exist/);
  await absent("adopt-id");
});

test("jsonc and yamlc are plain without a terminal or with NO_COLOR", async () => {
  for (const format of ["jsonc", "yamlc"]) {
    const r = await podid(["identity", "list", "--namespace", "default", "-o", format]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes("\u001b["), "no colour codes");
    assert.match(r.stdout, /walk-id/);
  }
});

test("on a terminal, a missing -g offers the subscription's resource groups to choose from", { skip: NO_PTY }, async () => {
  const args = ["identity", "add", "-n", "tty-rg-id", "--cluster", sb.info.clusterName, "--cluster-resource-group", sb.info.resourceGroup, "--namespace", "default"];
  await withPodidInPty(args, sb.env, async (pty) => {
    // The groups are listed sorted; the node resource group (MC_...) is first, the cluster's group second.
    await pty.shows(new RegExp(`Resource group of the identity[\\s\\S]*${sb.info.nodeResourceGroup}[\\s\\S]*${sb.info.resourceGroup}`));
    pty.type(`${ESC}[B`);
    await pty.shows(new RegExp(`❯ ${sb.info.resourceGroup}`));
    pty.type("\r");
    assert.equal(await pty.exited, 0, pty.output());
  });
  const identity = await msi.userAssignedIdentities.get(sb.info.resourceGroup, "tty-rg-id");
  assert.equal(identity.name, "tty-rg-id");
});
