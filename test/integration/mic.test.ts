import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { createServer } from "node:net";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { AzureSession } from "../../src/azure/session.js";
import { KubeSession } from "../../src/kube/session.js";
import { createLogger } from "../../src/util/logger.js";
import { startMic, type Mic, type MicOptions } from "../../src/runtime/mic/mic.js";
import { Reconciler, type Snapshot } from "../../src/runtime/mic/reconcile.js";
import { MicMetrics } from "../../src/runtime/mic/metrics.js";
import { ScaleSetTrouble } from "../../src/aadpodidentity/contract/mic-reports.js";
import { ComputeIdentities, computeTargetOfProviderId } from "../../src/azure/scale-sets.js";
import { kubeNodesOf, productSession, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { eventually } from "../helpers/eventually.js";

let sb: AzureSandbox;
let f: KubeFixture;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let mic: Mic;
let nodeRg: string;
let kubeletId: string;
let immutable: { id: string; clientId: string };
const logLines: string[] = [];
const mics: Mic[] = [];

const LEASE = { namespace: "kube-system", name: "aad-pod-identity-mic", durationMs: 1500 };

function micOptions(extra: Partial<MicOptions> = {}): MicOptions {
  return {
    forceNamespaced: false,
    immutableClientIds: [immutable.clientId],
    updateUserMsiMaxRetry: 2,
    updateUserMsiRetryIntervalMs: 50,
    armRetryBudgetMs: 20_000,
    syncRetryDurationMs: 3_600_000,
    identityAssignmentReconcileIntervalMs: 2_000,
    leaderElection: { ...LEASE },
    coalesceMs: 20,
    ...extra,
  };
}

/** The sessions MIC gets in-process: the sandbox cloud (as its Owner principal) and the cluster's admin kubeconfig. */
function sessions(): { kube: KubeSession; azure: AzureSession } {
  return { kube: new KubeSession(f.kc, "default"), azure: productSession(sb) };
}

async function newMic(name: string, extra: Partial<MicOptions> = {}): Promise<Mic> {
  const logger = createLogger("info", (l) => logLines.push(`${name}: ${l}`));
  const m = await startMic({
    ...sessions(),
    options: micOptions({ leaderElection: { ...LEASE, identity: name }, ...extra }),
    logger,
  });
  mics.push(m);
  return m;
}

before(async () => {
  sb = await startAzureSandbox({ nodes: 3 });
  nodeRg = sb.seed.nodeResourceGroup;
  kubeletId = `/subscriptions/${sb.subscriptionId}/resourceGroups/${nodeRg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${sb.seed.kubeletIdentityName}`.toLowerCase();
  f = await startKubeFixture({
    nodes: kubeNodesOf(sb.seed, { "kubernetes.azure.com/agentpool": "nodepool1" }),
  });
  await applyShippedCrds(f.kc);
  core = f.kc.makeApiClient(CoreV1Api);
  custom = f.kc.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: "kube-system" } } }).catch(() => undefined);
  immutable = await newIdentity("immutable");
  mic = await newMic("mic-a", { httpProbePort: 0, prometheusPort: 0, listenHost: "127.0.0.1" });
  await until("mic-a to lead", () => mic.isLeader());
});

after(async () => {
  for (const m of mics) await m.stop().catch(() => undefined);
  await f?.stop();
  await sb?.close();
});

async function newIdentity(prefix: string) {
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, uniqueName(prefix), { location: "eastus" });
  return { id: created.id!, clientId: created.clientId!, name: created.name! };
}

/** Bounded poll: resolves when `check` stops throwing, else fails with its last error. */
/** Waits for the condition, with MIC's last log lines when it does not come. */
const until = <T>(what: string, check: () => T | Promise<T>) => eventually(what, check, { context: () => logLines.slice(-15).join("\n") });

async function namespace(prefix = "mic"): Promise<string> {
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

async function azureIdentity(ns: string, name: string, identity: { id: string; clientId: string }, extra: { annotations?: Record<string, string>; resourceID?: string } = {}) {
  const body = {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name, namespace: ns, annotations: extra.annotations },
    spec: { type: 0, resourceID: extra.resourceID ?? identity.id, clientID: identity.clientId },
  };
  try {
    await custom.createNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: ns, plural: "azureidentities", body });
  } catch {
    const current = (await custom.getNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: ns, plural: "azureidentities", name })) as { metadata: object };
    await custom.replaceNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: ns, plural: "azureidentities", name, body: { ...body, metadata: current.metadata } });
  }
}
async function binding(ns: string, name: string, identityName: string, selector: string) {
  await custom.createNamespacedCustomObject({
    group: "aadpodidentity.k8s.io",
    version: "v1",
    namespace: ns,
    plural: "azureidentitybindings",
    body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name, namespace: ns }, spec: { azureIdentity: identityName, selector } },
  });
}
const del = (ns: string, plural: string, name: string) => custom.deleteNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: ns, plural, name });

async function pod(ns: string, name: string, node: number, label?: string): Promise<void> {
  const body: V1Pod = {
    metadata: { name, namespace: ns, labels: label ? { aadpodidbinding: label } : { app: name } },
    spec: { nodeName: sb.seed.nodes[node].name, containers: [{ name: "app", image: "app" }] },
  };
  await core.createNamespacedPod({ namespace: ns, body });
}
/** No kubelet runs this fixture's nodes to finish a graceful deletion: deleted at once, as `kubectl delete --force` does. */
const deletePod = (ns: string, name: string) => core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });

/** The AzureAssignedIdentities: "<ns>/<name>" -> "<node index> <status>". */
async function assignments(): Promise<Record<string, string>> {
  const list = (await custom.listClusterCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", plural: "azureassignedidentities" })) as {
    items: { metadata: { name: string; namespace: string; labels?: Record<string, string>; finalizers?: string[] }; spec: { nodename: string }; status?: { status?: string } }[];
  };
  return Object.fromEntries(
    list.items.map((a) => {
      assert.equal(a.metadata.labels?.nodename, a.spec.nodename);
      assert.deepEqual(a.metadata.finalizers, ["azureassignedidentity.finalizers.aadpodidentity.k8s.io"]);
      return [`${a.metadata.namespace}/${a.metadata.name}`, `${sb.seed.nodes.findIndex((n) => n.name === a.spec.nodename)} ${a.status?.status}`];
    }),
  );
}

/** The user-assigned identities on the scale set, through the real @azure/arm-compute client, lower-cased. */
async function attached(): Promise<string[]> {
  const vmss = await sb.clients.compute.virtualMachineScaleSets.get(nodeRg, sb.seed.vmssName);
  return Object.keys(vmss.identity?.userAssignedIdentities ?? {})
    .map((k) => k.toLowerCase())
    .sort();
}

/** Waits until both the AzureAssignedIdentities and the scale set's identities are exactly these. */
async function converges(expected: { assigned: Record<string, string>; identities: string[] }): Promise<void> {
  const want = [kubeletId, ...expected.identities.map((i) => i.toLowerCase())].sort();
  await until(`state ${JSON.stringify(expected)}`, async () => {
    assert.deepEqual(await assignments(), expected.assigned);
    assert.deepEqual(await attached(), [...new Set(want)].sort());
  });
}

/** A fresh namespace with a new Azure identity, its AzureIdentity `idName`, and a binding for `selector`. */
async function boundIdentity(prefix: string, idName: string, selector: string) {
  const ns = await namespace();
  const id = await newIdentity(prefix);
  await azureIdentity(ns, idName, id);
  await binding(ns, `${idName}-b`, idName, selector);
  return { ns, id };
}

const aai = (podName: string, podNs: string, idName: string, aaiNs = "default") => `${aaiNs}/${podName}-${podNs}-${idName}`;

describe("MIC against the sandbox cloud and cluster", () => {
  it("assigns a labelled pod its identity and ignores unlabelled pods; the kubelet identity was there before and stays", async () => {
    const { ns, id } = await boundIdentity("app", "app-id", "app");
    await pod(ns, "labelled", 0, "app");
    await pod(ns, "plain", 0);
    await converges({ assigned: { [aai("labelled", ns, "app-id")]: "0 Assigned" }, identities: [id.id] });
    assert.ok(mic.reconciler.preexistingOn(`/subscriptions/${sb.subscriptionId}/resourcegroups/${nodeRg}/providers/microsoft.compute/virtualmachinescalesets/${sb.seed.vmssName}`.toLowerCase()).has(kubeletId));

    await deletePod(ns, "labelled");
    await converges({ assigned: {}, identities: [] });
  });

  it("bindings added and removed, identities added and removed, two pods sharing one identity", async () => {
    const ns = await namespace();
    const a = await newIdentity("a");
    const b = await newIdentity("b");
    await pod(ns, "p1", 0, "web");
    await pod(ns, "p2", 1, "web");
    await azureIdentity(ns, "id-a", a);
    await azureIdentity(ns, "id-b", b);
    await converges({ assigned: {}, identities: [] });

    await binding(ns, "bind-a", "id-a", "web");
    await converges({ assigned: { [aai("p1", ns, "id-a")]: "0 Assigned", [aai("p2", ns, "id-a")]: "1 Assigned" }, identities: [a.id] });
    await binding(ns, "bind-b", "id-b", "web");
    await converges({
      assigned: { [aai("p1", ns, "id-a")]: "0 Assigned", [aai("p2", ns, "id-a")]: "1 Assigned", [aai("p1", ns, "id-b")]: "0 Assigned", [aai("p2", ns, "id-b")]: "1 Assigned" },
      identities: [a.id, b.id],
    });
    // One pod goes: the identity stays, the other pod on the scale set still needs it.
    await deletePod(ns, "p1");
    await converges({ assigned: { [aai("p2", ns, "id-a")]: "1 Assigned", [aai("p2", ns, "id-b")]: "1 Assigned" }, identities: [a.id, b.id] });
    await del(ns, "azureidentitybindings", "bind-a");
    await converges({ assigned: { [aai("p2", ns, "id-b")]: "1 Assigned" }, identities: [b.id] });
    await del(ns, "azureidentities", "id-b");
    await converges({ assigned: {}, identities: [] });
    await deletePod(ns, "p2");
  });

  it("a pod moved to another node keeps its identity, relabelled; a label change moves it to another identity", async () => {
    const ns = await namespace();
    const a = await newIdentity("mv");
    const b = await newIdentity("mv2");
    await azureIdentity(ns, "id", a);
    await azureIdentity(ns, "id2", b);
    await binding(ns, "bind", "id", "mover");
    await binding(ns, "bind2", "id2", "other");
    await pod(ns, "m", 0, "mover");
    await converges({ assigned: { [aai("m", ns, "id")]: "0 Assigned" }, identities: [a.id] });
    await deletePod(ns, "m");
    await pod(ns, "m", 2, "mover");
    await converges({ assigned: { [aai("m", ns, "id")]: "2 Assigned" }, identities: [a.id] });
    await core.patchNamespacedPod({ namespace: ns, name: "m", body: [{ op: "replace", path: "/metadata/labels/aadpodidbinding", value: "other" }] });
    await converges({ assigned: { [aai("m", ns, "id2")]: "2 Assigned" }, identities: [b.id] });
    await deletePod(ns, "m");
    await converges({ assigned: {}, identities: [] });
  });

  it("namespaced identities match only pods of their namespace and live there", async () => {
    const ns = await namespace();
    const other = await namespace();
    const id = await newIdentity("ns");
    await azureIdentity(ns, "scoped", id, { annotations: { "aadpodidentity.k8s.io/Behavior": "namespaced" } });
    await binding(ns, "scoped-binding", "scoped", "scoped");
    await pod(other, "outsider", 0, "scoped");
    await pod(ns, "insider", 1, "scoped");
    await converges({ assigned: { [aai("insider", ns, "scoped", ns)]: "1 Assigned" }, identities: [id.id] });
    await deletePod(ns, "insider");
    await converges({ assigned: {}, identities: [] });
    await deletePod(other, "outsider");
  });

  it("immutable identities and the kubelet identity are attached when needed but never removed", async () => {
    const ns = await namespace();
    await azureIdentity(ns, "immutable", immutable);
    await azureIdentity(ns, "kubelet", { id: kubeletId, clientId: "" });
    await binding(ns, "b1", "immutable", "keep");
    await binding(ns, "b2", "kubelet", "keep");
    await pod(ns, "k", 0, "keep");
    await converges({ assigned: { [aai("k", ns, "immutable")]: "0 Assigned", [aai("k", ns, "kubelet")]: "0 Assigned" }, identities: [immutable.id] });
    await deletePod(ns, "k");
    await converges({ assigned: {}, identities: [immutable.id] });
    // Detached by hand so the next scenarios start from the seeded scale set.
    await sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, sb.seed.vmssName, { identity: { type: "UserAssigned", userAssignedIdentities: { [immutable.id]: null } as never } });
    await converges({ assigned: {}, identities: [] });
  });

  it("one bad identity (unknown to ARM, or a malformed id) does not block the valid ones", async () => {
    const ns = await namespace();
    const good = await newIdentity("good");
    const ghost = { id: `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${uniqueName("ghost")}`, clientId: "c" };
    await azureIdentity(ns, "good", good);
    await azureIdentity(ns, "ghost", ghost);
    await azureIdentity(ns, "malformed", good, { resourceID: "not-an-id" });
    for (const n of ["good", "ghost", "malformed"]) await binding(ns, `b-${n}`, n, "mixed");
    await pod(ns, "x", 1, "mixed");
    await converges({ assigned: { [aai("x", ns, "good")]: "1 Assigned", [aai("x", ns, "ghost")]: "1 Created" }, identities: [good.id] });
    await until("a Warning event on the failing AzureAssignedIdentity", async () => {
      const events = await core.listNamespacedEvent({ namespace: "default" });
      return events.items.some((e) => e.involvedObject.name === `x-${ns}-ghost` && e.reason === ScaleSetTrouble.IdentityRefused && e.type === "Warning" && /was not found/.test(e.message ?? ""));
    });
    assert.ok(logLines.some((l) => /ignoring AzureIdentity .*malformed: invalid resource id: "not-an-id"/.test(l)));
    await deletePod(ns, "x");
    await converges({ assigned: {}, identities: [] });
  });

  it("an identity deleted and re-created under the same name (new client id) is re-attached", async () => {
    const { ns, id: first } = await boundIdentity("recreated", "re", "re");
    await pod(ns, "r", 0, "re");
    await converges({ assigned: { [aai("r", ns, "re")]: "0 Assigned" }, identities: [first.id] });
    await sb.clients.msi.userAssignedIdentities.delete(sb.seed.resourceGroup, first.name);
    const second = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, first.name, { location: "eastus" });
    assert.notEqual(second.clientId, first.clientId);
    await azureIdentity(ns, "re", { id: first.id, clientId: second.clientId! });
    await until("the scale set to carry the new client id", async () => {
      const vmss = await sb.clients.compute.virtualMachineScaleSets.get(nodeRg, sb.seed.vmssName);
      const entry = Object.entries(vmss.identity?.userAssignedIdentities ?? {}).find(([k]) => k.toLowerCase() === first.id.toLowerCase());
      assert.equal(entry?.[1].clientId, second.clientId);
    });
    await converges({ assigned: { [aai("r", ns, "re")]: "0 Assigned" }, identities: [first.id] });
    await deletePod(ns, "r");
    await converges({ assigned: {}, identities: [] });
  });

  it("survives ARM throttling (429 with Retry-After) and repairs an identity removed by hand", async () => {
    sb.cloud.setFaults([{ id: "throttle", service: "arm", method: "PATCH", path: "*virtualMachineScaleSets*", status: 429, retryAfterSeconds: 1, count: 3 }]);
    const writesBefore = await mic.metrics.total("aadpodidentity_cloud_provider_write_count");
    const { ns, id } = await boundIdentity("throttled", "t", "throttled");
    await pod(ns, "t", 0, "throttled");
    await converges({ assigned: { [aai("t", ns, "t")]: "0 Assigned" }, identities: [id.id] });
    sb.cloud.setFaults([]);
    assert.ok((await mic.metrics.total("aadpodidentity_cloud_provider_write_count")) > writesBefore);

    await sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, sb.seed.vmssName, { identity: { type: "UserAssigned", userAssignedIdentities: { [id.id]: null } as never } });
    await until("the periodic reconcile to re-attach it", async () => assert.ok((await attached()).includes(id.id.toLowerCase())));
    await deletePod(ns, "t");
    await converges({ assigned: {}, identities: [] });
  });

  it("keeps working after the API server restarts (its watches are re-established)", async () => {
    await f.restart();
    core = f.kc.makeApiClient(CoreV1Api);
    custom = f.kc.makeApiClient(CustomObjectsApi);
    const { ns, id } = await boundIdentity("restart", "rs", "restart");
    await pod(ns, "rs", 1, "restart");
    await converges({ assigned: { [aai("rs", ns, "rs")]: "1 Assigned" }, identities: [id.id] });
    await deletePod(ns, "rs");
    await converges({ assigned: {}, identities: [] });
  });

  it("a node deleted from the cluster: its assignments go and the identity no other pod needs is detached", async () => {
    const { ns, id } = await boundIdentity("gone", "gone", "gone");
    await pod(ns, "g", 2, "gone");
    await converges({ assigned: { [aai("g", ns, "gone")]: "2 Assigned" }, identities: [id.id] });
    const node = await core.readNode({ name: sb.seed.nodes[2].name });
    await core.deleteNode({ name: sb.seed.nodes[2].name });
    try {
      await converges({ assigned: {}, identities: [] });
    } finally {
      await deletePod(ns, "g");
      await core.createNode({ body: { metadata: { name: node.metadata!.name, labels: node.metadata!.labels }, spec: node.spec, status: node.status } });
    }
  });

  it("serves /healthz and Prometheus metrics", async () => {
    const health = await get(mic.httpProbePort!, "/healthz");
    assert.deepEqual(health, { status: 200, body: "Active" });
    const metrics = await get(mic.prometheusPort!, "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^aadpodidentity_assigned_identity_addition_count \d+$/m);
    assert.match(metrics.body, /^aadpodidentity_assigned_identity_deletion_count \d+$/m);
    assert.match(metrics.body, /^aadpodidentity_cloud_provider_write_count\{kind="scaleSet",result="success"\} \d+$/m);
    assert.match(metrics.body, /^# TYPE aadpodidentity_mic_cycle_duration_seconds summary$/m);
    assert.match(metrics.body, /^aadpodidentity_mic_leader 1$/m);
  });

  it("two instances: only the leader acts; when it stops renewing, the other takes over", async () => {
    const leases = f.kc.makeApiClient(CoordinationV1Api);
    const renewedAt = async () => {
      const lease = await leases.readNamespacedLease({ name: LEASE.name, namespace: LEASE.namespace });
      assert.equal(lease.spec?.holderIdentity, "mic-a");
      return String(lease.spec?.renewTime);
    };
    const standby = await newMic("mic-b");
    // The standby tries for the lease as often as the leader renews it: two renewals by mic-a are a round of both.
    const seen = new Set([await renewedAt()]);
    await until("mic-a to renew its lease twice while mic-b stands by", async () => seen.add(await renewedAt()).size > 2);
    assert.equal(standby.isLeader(), false);
    assert.equal(mic.isLeader(), true);
    const { ns, id } = await boundIdentity("ha", "ha", "ha");
    // The pod also uses the kubelet identity: the new leader must still know it was there before MIC.
    await azureIdentity(ns, "kubelet", { id: kubeletId, clientId: "" });
    await binding(ns, "kubelet-b", "kubelet", "ha");
    await pod(ns, "h1", 0, "ha");
    await converges({ assigned: { [aai("h1", ns, "ha")]: "0 Assigned", [aai("h1", ns, "kubelet")]: "0 Assigned" }, identities: [id.id] });
    assert.equal(await standby.metrics.total("aadpodidentity_mic_cycle_count"), 0, "the standby never reconciles");

    await mic.stop({ release: false }); // a crash: the lease is left to expire
    await until("the standby to take the lease", () => standby.isLeader());
    const lease = await leases.readNamespacedLease({ name: LEASE.name, namespace: LEASE.namespace });
    assert.equal(lease.spec?.holderIdentity, "mic-b");
    const record = JSON.parse(lease.metadata?.annotations?.["podid.io/preexisting-identities"] ?? "{}") as Record<string, string[]>;
    assert.deepEqual(Object.values(record), [[kubeletId]], "the record of identities present before MIC is on the Lease");
    await pod(ns, "h2", 1, "ha");
    await converges({
      assigned: { [aai("h1", ns, "ha")]: "0 Assigned", [aai("h1", ns, "kubelet")]: "0 Assigned", [aai("h2", ns, "ha")]: "1 Assigned", [aai("h2", ns, "kubelet")]: "1 Assigned" },
      identities: [id.id],
    });
    await deletePod(ns, "h1");
    await deletePod(ns, "h2");
    await converges({ assigned: {}, identities: [] });
    assert.ok((await standby.metrics.total("aadpodidentity_mic_cycle_count")) > 0);
  });
});

describe("MIC's effects, driven one cycle at a time (no MIC instance running)", () => {
  before(async () => {
    for (const m of mics) await m.stop();
  });

  async function snapshot(): Promise<Snapshot> {
    const list = async <T>(plural: string) => ((await custom.listClusterCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", plural })) as { items: T[] }).items;
    return {
      pods: (await core.listPodForAllNamespaces()).items,
      nodes: (await core.listNode()).items,
      identities: await list("azureidentities"),
      bindings: await list("azureidentitybindings"),
      assigned: await list("azureassignedidentities"),
    };
  }

  it("one sync cycle writes each scale set once, however many pods and identities", async () => {
    const { kube, azure } = sessions();
    const metrics = new MicMetrics();
    const reconciler = new Reconciler(kube, azure, micOptions(), createLogger("warn", (l) => logLines.push(`cycle: ${l}`)), metrics);
    const ns = await namespace();
    const ids = await Promise.all(["m1", "m2", "m3", "m4", "m5"].map((n) => newIdentity(n)));
    for (const [i, id] of ids.entries()) {
      await azureIdentity(ns, `id${i}`, id);
      await binding(ns, `b${i}`, `id${i}`, "many");
    }
    for (let p = 0; p < 6; p++) await pod(ns, `p${p}`, p % 3, "many");
    const expected: Record<string, string> = {};
    for (let p = 0; p < 6; p++) for (let i = 0; i < ids.length; i++) expected[aai(`p${p}`, ns, `id${i}`)] = `${p % 3} Assigned`;

    assert.deepEqual(await reconciler.sync(await snapshot()), { workDone: true, pending: false });
    assert.equal(await metrics.total("aadpodidentity_cloud_provider_write_count"), 1);
    assert.equal(await metrics.total("aadpodidentity_assigned_identity_addition_count"), 30);
    await converges({ assigned: expected, identities: ids.map((i) => i.id) });
    assert.deepEqual(await reconciler.sync(await snapshot()), { workDone: false, pending: false }, "a second cycle finds nothing to do");
    assert.equal(await metrics.total("aadpodidentity_cloud_provider_write_count"), 1);

    for (let p = 0; p < 6; p++) await deletePod(ns, `p${p}`);
    assert.deepEqual(await reconciler.sync(await snapshot()), { workDone: true, pending: false });
    assert.equal(await metrics.total("aadpodidentity_cloud_provider_write_count"), 2);
    assert.equal(await metrics.total("aadpodidentity_assigned_identity_deletion_count"), 30);
    await converges({ assigned: {}, identities: [] });
  });

  it("--forceNamespaced: only a pod in the binding's and identity's namespace is matched, and its assignment lives there", async () => {
    const { kube, azure } = sessions();
    const reconciler = new Reconciler(kube, azure, micOptions({ forceNamespaced: true }), createLogger("warn", (l) => logLines.push(`forced: ${l}`)), new MicMetrics());
    const { ns, id } = await boundIdentity("forced", "forced", "forced");
    const other = await namespace();
    await pod(ns, "inside", 2, "forced");
    await pod(other, "outside", 2, "forced");
    assert.equal((await reconciler.sync(await snapshot())).pending, false);
    await converges({ assigned: { [aai("inside", ns, "forced", ns)]: "2 Assigned" }, identities: [id.id] });
    await deletePod(ns, "inside");
    await reconciler.sync(await snapshot());
    await converges({ assigned: {}, identities: [] });
  });

  it("more than 150 identity changes go to ARM in PATCHes of at most 150", async () => {
    const { azure } = sessions();
    const writes: boolean[] = [];
    const compute = new ComputeIdentities(azure, { maxRetryMs: 5000, onWrite: (_, ok) => writes.push(ok) });
    const target = computeTargetOfProviderId(`azure://${sb.seed.nodes[0].vmId}`)!;
    const ids = await Promise.all(Array.from({ length: 160 }, () => newIdentity("bulk")));
    let state = await compute.update(target, { add: ids.map((i) => i.id), remove: [] }, await compute.get(target));
    assert.deepEqual(writes, [true, true]);
    assert.equal(state.identities.size, 161);
    assert.equal((await attached()).length, 161);
    state = await compute.update(target, { add: [], remove: ids.map((i) => i.id) }, state);
    assert.deepEqual(writes, [true, true, true, true]);
    assert.deepEqual([...state.identities.keys()], [kubeletId]);
    await compute.update(target, { add: [], remove: ids.map((i) => i.id) }, state);
    assert.equal(writes.length, 4, "nothing to change, no request");
  });
});

describe("MIC whose API server never answers", () => {
  it("can be stopped while its caches wait for their first list", { timeout: 60_000 }, async () => {
    // An API server that hangs up on every connection: each list fails, and the caches retry with backoff.
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "gone", server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
        users: [{ name: "u", token: "t" }],
        contexts: [{ name: "gone", cluster: "gone", user: "u" }],
        currentContext: "gone",
      });
      const shutdown = new AbortController();
      const starting = startMic({
        kube: new KubeSession(kc, "default"),
        azure: productSession(sb),
        options: micOptions({ leaderElection: { ...LEASE, identity: "mic-unreachable" } }),
        logger: createLogger("info", (l) => logLines.push(`mic-unreachable: ${l}`)),
        signal: shutdown.signal,
      });
      await until("the caches to retry their lists", () => connections > 6 && logLines.some((l) => /^mic-unreachable: .*listing of Pod failed/.test(l)));
      shutdown.abort(new Error("SIGTERM"));
      await assert.rejects(starting, /SIGTERM/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}
