import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { ComputeIdentities, computeTargetOfProviderId } from "../../src/azure/scale-sets.js";
import { AssignedIdentityWriter } from "../../src/kube/assigned-identities.js";
import { endpointOf } from "../../src/kube/lite/from-kubeconfig.js";
import { KubeSession } from "../../src/kube/session.js";
import type { Mic } from "../../src/runtime/mic/mic.js";
import { NotLeaderError } from "../../src/util/cancel.js";
import { createLogger } from "../../src/util/logger.js";
import { kubeNodesOf, productSession, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { eventually, settlesWithin } from "../helpers/eventually.js";
import { startWatchGate } from "../helpers/watch-gate.js";
import { startTestMic } from "../helpers/mic.js";

/**
 * MIC when things go wrong around it: ARM throttling with long Retry-After while the leader is stopped, a lease lost
 * to another holder, connections dropped mid-cycle. Each asserts what ends up in the cluster and in Azure.
 */

let sb: AzureSandbox;
let f: KubeFixture;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let leases: CoordinationV1Api;
const logs = new Map<string, string[]>();
const cloudLog: string[] = [];
const mics: Mic[] = [];
const GROUP = "aadpodidentity.k8s.io";
const LEASE = { namespace: "kube-system", name: "aad-pod-identity-mic", durationMs: 3000 };
const scaleSetPath = () => `*/virtualMachineScaleSets/${sb.seed.vmssName}`;

before(async () => {
  sb = await startAzureSandbox({ nodes: 2, log: (l) => cloudLog.push(l) });
  f = await startKubeFixture({ nodes: kubeNodesOf(sb.seed, { "kubernetes.azure.com/agentpool": "nodepool1" }) });
  await applyShippedCrds(f.kc);
  core = f.kc.makeApiClient(CoreV1Api);
  custom = f.kc.makeApiClient(CustomObjectsApi);
  leases = f.kc.makeApiClient(CoordinationV1Api);
  await core.createNamespace({ body: { metadata: { name: "kube-system" } } }).catch(() => undefined);
});

afterEach(cleanUp);

after(async () => {
  sb?.cloud.setFaults([]);
  for (const m of mics) await m.stop().catch(() => undefined);
  await f?.stop();
  await sb?.close();
});

async function newMic(name: string): Promise<Mic> {
  const lines: string[] = [];
  logs.set(name, lines);
  const m = await startTestMic(sb, f.kc, createLogger("info", (l) => lines.push(l)), { armRetryBudgetMs: 120_000, leaderElection: { ...LEASE, identity: name } });
  mics.push(m);
  return m;
}

const logOf = (name: string) => (logs.get(name) ?? []).join("\n");

/** A namespace with a new Azure identity, its AzureIdentity and binding, and a pod on node 0 that the binding selects. */
async function boundPod(prefix: string) {
  const ns = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const id = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, uniqueName(prefix), { location: "eastus" });
  const crd = (plural: string, kind: string, name: string, spec: object) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: "v1", namespace: ns, plural, body: { apiVersion: `${GROUP}/v1`, kind, metadata: { name, namespace: ns }, spec } });
  await crd("azureidentities", "AzureIdentity", "id", { type: 0, resourceID: id.id, clientID: id.clientId });
  await crd("azureidentitybindings", "AzureIdentityBinding", "id-b", { azureIdentity: "id", selector: prefix });
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: "app", labels: { aadpodidbinding: prefix } }, spec: { nodeName: sb.seed.nodes[0].name, containers: [{ name: "app", image: "app" }] } } });
  return { ns, id: id.id!.toLowerCase(), aai: `app-${ns}-id` };
}

async function assignedStatus(name: string): Promise<string | undefined> {
  const aai = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureassignedidentities", name })) as { status?: { status?: string } };
  return aai.status?.status;
}

async function attached(): Promise<string[]> {
  const vmss = await sb.clients.compute.virtualMachineScaleSets.get(sb.seed.nodeResourceGroup, sb.seed.vmssName);
  return Object.keys(vmss.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
}

async function warningsOn(name: string): Promise<string[]> {
  const events = await core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${name}` });
  return events.items.filter((e) => e.type === "Warning").map((e) => `${e.reason}: ${e.message}`);
}

/** Each test's MICs are stopped (and the lease released) and its faults cleared, whatever the outcome. */
async function cleanUp(): Promise<void> {
  sb.cloud.setFaults([]);
  for (const m of mics.splice(0)) await m.stop();
}

/** The sandbox answered a request with this fault (its own log, not MIC's). */
const faulted = (id: string) => cloudLog.some((l) => l.startsWith(`fault ${id} `));

test("stopped mid-cycle while ARM throttles with a long Retry-After: the cycle is aborted, the lease released at once, and the successor finishes the work", async () => {
  const a = await newMic("mic-a");
  await eventually("mic-a to lead", () => a.isLeader());
  sb.cloud.setFaults([{ id: "slow-arm-a", service: "arm", method: "PATCH", path: scaleSetPath(), status: 429, retryAfterSeconds: 60 }]);
  const work = await boundPod("throttled");
  await eventually("mic-a's scale-set update to be throttled", () => faulted("slow-arm-a"));

  // Upstream exits at once; podid's MIC used to wait out the 60 s Retry-After while renewing the lease.
  await settlesWithin(a.stop(), 5000, "mic-a to stop while its ARM call waits for Retry-After");
  assert.match(logOf("mic-a"), /sync cycle stopped: this instance no longer leads/);
  assert.match(logOf("mic-a"), /mic-a released the leader lease/);
  const lease = await leases.readNamespacedLease({ name: LEASE.name, namespace: LEASE.namespace });
  assert.equal(lease.spec?.holderIdentity, undefined, "the holder is cleared, as client-go's ReleaseOnCancel does");
  assert.equal(await assignedStatus(work.aai), "Created", "the aborted cycle left the assignment for the next leader");
  assert.deepEqual(await warningsOn(work.aai), [], "an aborted cycle reports nothing as a failure");

  sb.cloud.setFaults([]);
  const b = await newMic("mic-b");
  // The lease was released: mic-b takes it at its first try, not a lease duration later.
  await eventually("mic-b to take the released lease", () => b.isLeader(), { timeoutMs: LEASE.durationMs });
  await eventually("mic-b to assign the identity", async () => (await assignedStatus(work.aai)) === "Assigned" && (await attached()).includes(work.id));
});

test("a leader whose lease is taken over stops its cycle and writes nothing more to ARM or the cluster", async () => {
  const a = await newMic("mic-c");
  await eventually("mic-c to lead", () => a.isLeader());
  sb.cloud.setFaults([{ id: "slow-arm-c", service: "arm", method: "PATCH", path: scaleSetPath(), status: 429, retryAfterSeconds: 2 }]);
  const work = await boundPod("fenced");
  await eventually("mic-c's scale-set update to be throttled", () => faulted("slow-arm-c"));

  // Another instance holds the lease now (as after a partition): mic-c must notice and stop.
  const lease = await leases.readNamespacedLease({ name: LEASE.name, namespace: LEASE.namespace });
  await leases.replaceNamespacedLease({ name: LEASE.name, namespace: LEASE.namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: "someone-else", renewTime: new Date() } } });
  await eventually("mic-c to step down and abort its cycle", () => !a.isLeader() && /sync cycle stopped/.test(logOf("mic-c")));
  await a.idle();
  sb.cloud.setFaults([]);
  // Nothing mic-c had under way may land now: an ARM call it would retry after Retry-After, or a status write.
  const writes = await a.metrics.total("aadpodidentity_cloud_provider_write_count");
  await eventually("mic-c's leader gauge to drop", async () => (await a.metrics.total("aadpodidentity_mic_leader")) === 0);
  assert.equal(await assignedStatus(work.aai), "Created");
  assert.ok(!(await attached()).includes(work.id), "no scale-set write after the lease was lost");
  assert.equal(await a.metrics.total("aadpodidentity_cloud_provider_write_count"), writes);
  const live = await leases.readNamespacedLease({ name: LEASE.name, namespace: LEASE.namespace });
  assert.equal(live.spec?.holderIdentity, "someone-else", "a MIC that does not hold the lease does not release it");
  await leases.replaceNamespacedLease({ name: LEASE.name, namespace: LEASE.namespace, body: { ...live, spec: { ...live.spec, holderIdentity: undefined } } });
});

test("writes fenced by an ended term are refused before they reach the cluster or ARM", async () => {
  const ended = () => {
    throw new NotLeaderError("test");
  };
  const writer = new AssignedIdentityWriter(new KubeSession(f.kc, "default"), ended);
  const name = uniqueName("fenced");
  const aai = { apiVersion: `${GROUP}/v1`, kind: "AzureAssignedIdentity", metadata: { name, namespace: "default" }, spec: {} } as never;
  await assert.rejects(writer.create(aai), NotLeaderError);
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureassignedidentities", name }), (err: { code?: number }) => err.code === 404);

  const compute = new ComputeIdentities(productSession(sb), { maxRetryMs: 1000 });
  const target = computeTargetOfProviderId(`azure://${sb.seed.nodes[0].vmId}`)!;
  const id = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, uniqueName("fenced"), { location: "eastus" });
  const state = await compute.get(target);
  await assert.rejects(compute.update(target, { add: [id.id!], remove: [] }, state, { fence: ended }), NotLeaderError);
  assert.ok(!(await attached()).includes(id.id!.toLowerCase()), "the scale set is unchanged");
});

test("a connection the server drops mid-cycle (a reused keep-alive socket) is retried: Assigned, and no Warning", async () => {
  const m = await newMic("mic-d");
  await eventually("mic-d to lead", () => m.isLeader());
  // More drops than the SDK's own three retries: MIC's retry (with the 5xx budget) must carry it.
  sb.cloud.setFaults([{ id: "hang-up", service: "arm", method: "PATCH", path: scaleSetPath(), drop: true, count: 5 }]);
  const work = await boundPod("dropped");
  await eventually("the assignment to go through", async () => (await assignedStatus(work.aai)) === "Assigned", { timeoutMs: 60_000 });
  assert.ok((await attached()).includes(work.id));
  assert.deepEqual(sb.cloud.state.faults, [], "every drop was used: the retries really happened");
  assert.deepEqual(await warningsOn(work.aai), []);
  assert.doesNotMatch(logOf("mic-d"), /sync cycle failed|binding apply error/);
});

test("a MIC whose API server stops answering still stops within 5 s of being told to", async () => {
  const gate = await startWatchGate(endpointOf(f.kc));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "gate", server: gate.endpoint.server, skipTLSVerify: true }],
    users: [{ name: "admin", token: gate.endpoint.token?.() }],
    contexts: [{ name: "gate", cluster: "gate", user: "admin" }],
    currentContext: "gate",
  });
  const lines: string[] = [];
  const m = await startTestMic(sb, kc, createLogger("info", (l) => lines.push(l)), { armRetryBudgetMs: 120_000, leaderElection: { ...LEASE, identity: "mic-e" } });
  try {
    await eventually("mic-e to lead", () => m.isLeader());
    gate.stall();
    await settlesWithin(m.stop(), 5000, "mic-e to stop while the API server does not answer");
    assert.match(lines.join("\n"), /could not release the lease .* within 2000 ms/);
  } finally {
    await gate.close();
  }
});
