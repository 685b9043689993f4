import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { type ManagedServiceIdentityClient } from "@azure/arm-msi";
import { type AuthorizationManagementClient } from "@azure/arm-authorization";
import { runPodid } from "../helpers/cli.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";

// Entra ID replication delay, ARM throttling and a missing permission, driven through `podid sandbox` controls.
let sb: SandboxFixture;
let msi: ManagedServiceIdentityClient;
let auth: AuthorizationManagementClient;

before(async () => {
  sb = await startSandbox({ replicationDelaySeconds: 2 });
  const clients = sandboxClients(sb);
  msi = clients.msi;
  auth = clients.auth;
  // `podid install` (a later issue) brings the CRDs; these tests apply the shipped ones directly.
  await applyShippedCrds(clients.kc);
});

after(async () => sb?.stop());

const add = (name: string, env: NodeJS.ProcessEnv = {}) =>
  runPodid(["identity", "add", "-n", name, "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--role", "Reader", "--namespace", "default", "--verbose"], { env: { ...sb.env, ...env } });

test("a new identity's principal is not replicated yet: the grant waits it out, with progress", async () => {
  const r = await add("replicated-id");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /waiting for Entra ID to replicate principal/);
  const out = JSON.parse(r.stdout) as { roleAssignments: { role: string }[]; steps: { step: string; outcome: string }[] };
  assert.equal(out.steps.find((s) => s.step.startsWith("role Reader at "))?.outcome, "created");
  assert.deepEqual(out.roleAssignments.map((a) => a.role), ["Reader"]);
});

test("identity show while ARM fails to answer: the state is unknown, and said with ARM's reason", async () => {
  const set = await runPodid(["sandbox", "fault", "add", "--dir", sb.dir, "--method", "GET", "--path", "*/userAssignedIdentities/replicated-id", "--status", "500", "--count", "100"]);
  assert.equal(set.code, 0, set.stderr);
  try {
    const r = await runPodid(["identity", "show", "-n", "replicated-id", "--namespace", "default"], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).azureState, "unknown");
    assert.match(r.stderr, /^WARNING: the Azure state of identity default\/replicated-id is unknown: .+/m);
  } finally {
    assert.equal((await runPodid(["sandbox", "fault", "clear", "--dir", sb.dir])).code, 0);
  }
});

test("ARM throttling (429 with Retry-After) on role assignments is survived", async () => {
  const set = await runPodid(["sandbox", "fault", "add", "--dir", sb.dir, "--method", "PUT", "--path", "*/roleAssignments/*", "--status", "429", "--retry-after", "1", "--count", "2"]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(JSON.parse(set.stdout).length, 1);
  const r = await add("throttled-id");
  assert.equal(r.code, 0, r.stderr);
  const left = JSON.parse((await runPodid(["sandbox", "fault", "list", "--dir", sb.dir])).stdout);
  assert.deepEqual(left, [], "both throttled answers were used up by retries");
});

test("a missing permission is one error naming the action, the role and the scope; nothing is made", async () => {
  const weak = JSON.parse((await runPodid(["sandbox", "principal", "add", "--dir", sb.dir, "--display-name", "weak"])).stdout) as { clientId: string; objectId: string; secretFile: string };
  const reader = (await auth.roleDefinitions.list(`/subscriptions/${sb.info.subscriptionId}`, { filter: "roleName eq 'Reader'" }).next()).value;
  await auth.roleAssignments.create(`/subscriptions/${sb.info.subscriptionId}`, randomUUID(), { roleDefinitionId: reader.id, principalId: weak.objectId, principalType: "ServicePrincipal" });
  const secret = readFileSync(weak.secretFile, "utf8");
  const r = await add("denied-id", { AZURE_CLIENT_ID: weak.clientId, AZURE_CLIENT_SECRET: secret });
  assert.equal(r.code, 1);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("ERROR") || l.startsWith("Grant"));
  assert.match(lines[0], /^ERROR: identity denied-id: creating identity denied-id in podid-sandbox was refused \(AuthorizationFailed\): principal .* may not perform 'Microsoft.ManagedIdentity\/userAssignedIdentities\/write' on '\/subscriptions\/.*\/userAssignedIdentities\/denied-id'/);
  assert.match(r.stderr, /az role assignment create --assignee-object-id [0-9a-f-]+ --assignee-principal-type ServicePrincipal --role "Managed Identity Contributor" --scope \/subscriptions\//);
  assert.ok(!r.stderr.includes(secret), "the secret is not printed");
  await assert.rejects(msi.userAssignedIdentities.get(sb.info.resourceGroup, "denied-id"), (e: { statusCode?: number }) => e.statusCode === 404);
});
