import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { createLogger } from "../../src/util/logger.js";
import type { Mic } from "../../src/runtime/mic/mic.js";
import { scaleSetNameOf } from "../../src/sandbox/azure/seed.js";
import { kubeNodesOf, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture, type KubeFixture } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { eventually } from "../helpers/eventually.js";
import { startTestMic } from "../helpers/mic.js";

// Two node pools, two scale sets: MIC attaches an identity to each scale set that has a pod needing it, with one
// write per scale set, and detaches it from each when those pods go.
let sb: AzureSandbox;
let f: KubeFixture;
let mic: Mic;

before(async () => {
  sb = await startAzureSandbox({ nodes: 4, scaleSets: 2 });
  f = await startKubeFixture({ nodes: kubeNodesOf(sb.seed) });
  await applyShippedCrds(f.kc);
  mic = await startTestMic(sb, f.kc, createLogger("error"), { identityAssignmentReconcileIntervalMs: 60_000, leaderElection: { namespace: "kube-system", name: "aad-pod-identity-mic", durationMs: 1500 } });
});

after(async () => {
  await mic?.stop();
  await f?.stop();
  await sb?.close();
});

async function attached(vmss: string): Promise<string[]> {
  const v = await sb.clients.compute.virtualMachineScaleSets.get(sb.seed.nodeResourceGroup, vmss);
  return Object.keys(v.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
}

test("the sandbox seeds one scale set per node pool, nodes dealt between them", async () => {
  const pools = [...new Set(sb.seed.nodes.map(scaleSetNameOf))];
  assert.equal(pools.length, 2);
  for (const pool of pools) {
    const vms = [];
    for await (const vm of sb.clients.compute.virtualMachineScaleSetVMs.list(sb.seed.nodeResourceGroup, pool)) vms.push(vm);
    assert.equal(vms.length, 2);
  }
});

test("an identity goes onto each scale set whose nodes run a pod that needs it, and off again", async () => {
  const identity = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, "pools-id", { location: sb.seed.location });
  const custom = f.kc.makeApiClient(CustomObjectsApi);
  const core = f.kc.makeApiClient(CoreV1Api);
  const group = { group: "aadpodidentity.k8s.io", version: "v1", namespace: "default" };
  await custom.createNamespacedCustomObject({ ...group, plural: "azureidentities", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: "pools-id" }, spec: { type: 0, resourceID: identity.id, clientID: identity.clientId } } });
  await custom.createNamespacedCustomObject({ ...group, plural: "azureidentitybindings", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name: "pools-binding" }, spec: { azureIdentity: "pools-id", selector: "pools" } } });
  const [a, b] = [sb.seed.nodes[0], sb.seed.nodes[1]];
  assert.notEqual(scaleSetNameOf(a), scaleSetNameOf(b));
  const writesBefore = await mic.metrics.total("aadpodidentity_cloud_provider_write_count");
  for (const [i, node] of [a, b].entries()) {
    await core.createNamespacedPod({ namespace: "default", body: { metadata: { name: `pools-${i}`, labels: { aadpodidbinding: "pools" } }, spec: { nodeName: node.name, containers: [{ name: "c", image: "c" }] } } });
  }
  const id = identity.id!.toLowerCase();
  await eventually("both scale sets to hold the identity", async () => (await attached(scaleSetNameOf(a))).includes(id) && (await attached(scaleSetNameOf(b))).includes(id));
  assert.equal((await mic.metrics.total("aadpodidentity_cloud_provider_write_count")) - writesBefore, 2, "one write per scale set");

  await core.deleteNamespacedPod({ namespace: "default", name: "pools-1" });
  await eventually("the second scale set to let it go", async () => !(await attached(scaleSetNameOf(b))).includes(id));
  assert.ok((await attached(scaleSetNameOf(a))).includes(id), "the first pool's pod still needs it");
});
