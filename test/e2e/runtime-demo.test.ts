import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ComputeManagementClient } from "@azure/arm-compute";
import { spawn } from "node:child_process";
import { CLI, runPodid } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { eventually } from "../helpers/eventually.js";

// `podid runtime demo` as the demo image runs it: the plain SDK's ManagedIdentityCredential pointed at a node's
// IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST, as NMI is for pods), then ARM with that token.
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let compute: ComputeManagementClient;
let nodeGroupScope: string;

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
  compute = new ComputeManagementClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  nodeGroupScope = `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.nodeResourceGroup}`;
});

after(async () => sb?.stop());

async function identity(name: string, { reader, attach }: { reader: boolean; attach: boolean }) {
  const id = await clients.msi.userAssignedIdentities.createOrUpdate(sb.info.nodeResourceGroup, name, { location: sb.info.location });
  if (reader) {
    await clients.auth.roleAssignments.create(nodeGroupScope, randomUUID(), { roleDefinitionId: `/subscriptions/${sb.info.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`, principalId: id.principalId!, principalType: "ServicePrincipal" });
  }
  if (attach) {
    for await (const vmss of compute.virtualMachineScaleSets.list(sb.info.nodeResourceGroup)) {
      await compute.virtualMachineScaleSets.beginUpdateAndWait(sb.info.nodeResourceGroup, vmss.name!, { identity: { type: "UserAssigned", userAssignedIdentities: { [id.id!]: {} } } }, { updateIntervalInMs: 10 });
    }
  }
  return id;
}

const demo = (clientId: string) =>
  runPodid(["runtime", "demo", "--once", "--resource-group", sb.info.nodeResourceGroup, "--client-id", clientId], {
    env: { ...sb.env, AZURE_POD_IDENTITY_AUTHORITY_HOST: sb.info.nodes[0].imds },
    timeoutMs: 60_000,
  });

const noToken = (text: string) => assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ[\w-]+/, "no token is printed");

test("an attached identity with Reader gets a token and lists the VMs and scale sets: exit 0", async () => {
  const id = await identity("demo-ok", { reader: true, attach: true });
  const r = await demo(id.clientId!);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const msiEndpoint = `${sb.info.nodes[0].imds}/metadata/identity/oauth2/token`;
  assert.ok(r.stdout.includes(`successfully acquired a token using the MSI, msiEndpoint(${msiEndpoint}) clientID(${id.clientId})`), r.stdout);
  assert.match(r.stdout, new RegExp(`successfully doARMOperations vm count ${sb.info.nodes.length}\\n`));
  assert.match(r.stdout, /successfully doARMOperations scale set count 1 \(aks-nodepool1-\d+-vmss: 2 instances\)/);
  noToken(r.stdout + r.stderr);
});

test("an identity not attached to the node's scale set is refused: the failure line, exit 1", async () => {
  const id = await identity("demo-unattached", { reader: true, attach: false });
  const r = await demo(id.clientId!);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`failed to acquire a token using the MSI, msiEndpoint\\(.*\\) clientID\\(${id.clientId}\\): .*Identity not found`));
  assert.doesNotMatch(r.stdout, /successfully/);
  assert.match(r.stderr, /^ERROR: no token from the managed identity endpoint/m);
  noToken(r.stdout + r.stderr);
});

test("an attached identity without Reader gets its token but ARM refuses the listing: exit 1", async () => {
  const id = await identity("demo-noreader", { reader: false, attach: true });
  const r = await demo(id.clientId!);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /successfully acquired a token/);
  assert.match(r.stdout, /failed doARMOperations in resource group MC_.*AuthorizationFailed|failed doARMOperations in resource group MC_.*does not have authorization/);
  noToken(r.stdout + r.stderr);
});

test("usage errors: no resource group, bad client id", async () => {
  const missing = await runPodid(["runtime", "demo", "--once"], { env: sb.env });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--resource-group/);
  const bad = await runPodid(["runtime", "demo", "--once", "--resource-group", "x", "--client-id", "nope"], { env: sb.env });
  assert.equal(bad.code, 2);
});

test("a plain-text refusal (NMI's, as upstream's) is shown with its status, not only as the SDK's 'Network unreachable'", async () => {
  const nmiLike = createServer((_req, res) => {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("default/p: no azure identity found for request\n");
  });
  await new Promise<void>((resolve) => nmiLike.listen(0, "127.0.0.1", resolve));
  try {
    const r = await runPodid(["runtime", "demo", "--once", "--resource-group", "g", "--client-id", randomUUID()], {
      env: { ...sb.env, AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${(nmiLike.address() as AddressInfo).port}` },
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /failed to acquire a token using the MSI, .*\(the endpoint answered 404: default\/p: no azure identity found for request\)/);
  } finally {
    nmiLike.close();
  }
});

test("without --once it keeps going, one round per --interval, until stopped", async () => {
  const id = await identity("demo-loop", { reader: true, attach: true });
  const child = spawn(process.execPath, [CLI, "runtime", "demo", "--resource-group", sb.info.nodeResourceGroup, "--client-id", id.clientId!, "--interval", "1s"], {
    env: { ...process.env, ...sb.env, AZURE_POD_IDENTITY_AUTHORITY_HOST: sb.info.nodes[1].imds },
  });
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  try {
    await eventually("three rounds", () => assert.ok((stdout.match(/successfully doARMOperations vm count/g) ?? []).length >= 3, stdout), { intervalMs: 100 });
  } finally {
    child.kill("SIGTERM");
  }
  assert.ok((stdout.match(/successfully acquired a token/g) ?? []).length >= 3, stdout);
  noToken(stdout);
});
