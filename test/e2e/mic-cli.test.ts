import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { ComputeManagementClient } from "@azure/arm-compute";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { CLI, REPO_ROOT } from "../helpers/cli.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { uniqueName } from "../helpers/kube-api.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { eventually } from "../helpers/eventually.js";

let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let mic: ChildProcess | undefined;
let stderr = "";

before(async () => {
  sb = await startSandbox({ nodes: 2 });
  clients = sandboxClients(sb);
  await applyShippedCrds(clients.kc);
});

after(async () => {
  mic?.kill("SIGKILL");
  await sb?.stop();
});

test("podid runtime mic, with the sandbox's environment, assigns a pod its identity and stops cleanly on SIGTERM", async () => {
  const group = "aadpodidentity.k8s.io";
  const custom = clients.kc.makeApiClient(CustomObjectsApi);
  const core = clients.kc.makeApiClient(CoreV1Api);
  const identity = await clients.msi.userAssignedIdentities.createOrUpdate(sb.info.resourceGroup, uniqueName("e2e-mic"), { location: "eastus" });
  await custom.createNamespacedCustomObject({
    group,
    version: "v1",
    namespace: "default",
    plural: "azureidentities",
    body: { apiVersion: `${group}/v1`, kind: "AzureIdentity", metadata: { name: "e2e" }, spec: { type: 0, resourceID: identity.id, clientID: identity.clientId } },
  });
  await custom.createNamespacedCustomObject({
    group,
    version: "v1",
    namespace: "default",
    plural: "azureidentitybindings",
    body: { apiVersion: `${group}/v1`, kind: "AzureIdentityBinding", metadata: { name: "e2e" }, spec: { azureIdentity: "e2e", selector: "e2e" } },
  });
  const node = (await core.listNode()).items[0].metadata!.name!;
  await core.createNamespacedPod({ namespace: "default", body: { metadata: { name: "e2e-app", labels: { aadpodidbinding: "e2e" } }, spec: { nodeName: node, containers: [{ name: "app", image: "app" }] } } });

  mic = spawn(process.execPath, [CLI, "runtime", "mic", "--http-probe-port", "0", "--prometheus-port", "0", "--leader-election-duration", "2s", "--leader-election-instance", "e2e-mic"], {
    env: { ...process.env, ...sb.env, NO_COLOR: "1" },
    cwd: REPO_ROOT,
  });
  mic.stderr!.on("data", (d) => (stderr += d));
  mic.stdout!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => mic!.on("exit", (code) => resolve(code)));

  const aaiName = `e2e-app-default-e2e`;
  await eventually(
    "the AzureAssignedIdentity to be Assigned",
    async () => {
      const aai = (await custom.getNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "azureassignedidentities", name: aaiName })) as { status?: { status?: string } };
      return aai.status?.status === "Assigned";
    },
    { intervalMs: 100, context: () => stderr.slice(-2000) },
  );

  const compute = new ComputeManagementClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  const scaleSets = [];
  for await (const s of compute.virtualMachineScaleSets.listAll()) scaleSets.push(s);
  const attached = Object.keys(scaleSets[0].identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
  assert.ok(attached.includes(identity.id!.toLowerCase()), `attached: ${attached.join(", ")}`);
  const lease = await clients.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "aad-pod-identity-mic", namespace: "default" });
  assert.equal(lease.spec?.holderIdentity, "e2e-mic");
  assert.doesNotMatch(stderr, new RegExp(sb.env.AZURE_CLIENT_SECRET!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), "no secret in MIC's log");

  mic.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /received SIGTERM, shutting down/);
  const released = await clients.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "aad-pod-identity-mic", namespace: "default" });
  assert.equal(released.spec?.holderIdentity, undefined, "a stopping leader gives the lease up");
  mic = undefined;
});
