import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { decodeJwt } from "jose";
import type { Mic } from "../../src/runtime/mic/mic.js";
import { startNmi, type RunningNmi } from "../../src/runtime/nmi/nmi.js";
import { DoctorContext } from "../../src/core/doctor/context.js";
import { runCheck } from "../../src/core/doctor/runner.js";
import { podLabelsCheck } from "../../src/core/doctor/checks/pod-labels.js";
import { selectorScopeCheck } from "../../src/core/doctor/checks/selector-scope.js";
import { fieldCasingCheck } from "../../src/core/doctor/checks/field-casing.js";
import { azureIdentitiesCheck } from "../../src/core/doctor/checks/azure-identities.js";
import { identitySpec } from "../../src/aadpodidentity/spec.js";
import type { AzureIdentity } from "../../src/aadpodidentity/types.js";
import { AAD_POD_IDENTITY_GROUP, BEHAVIOR_ANNOTATION } from "../../src/aadpodidentity/types.js";
import { KubeSession } from "../../src/kube/session.js";
import { endpointOf } from "../../src/kube/lite/from-kubeconfig.js";
import { createLogger } from "../../src/util/logger.js";
import { kubeNodesOf, productSession, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { applyPre16Crds } from "../helpers/crds.js";
import { getFrom, NmiWorld } from "../helpers/nmi.js";
import { eventually } from "../helpers/eventually.js";
import { startTestMic } from "../helpers/mic.js";

// The rules of aadpodidentity that MIC, NMI and doctor share (src/aadpodidentity/), held against all three at once:
// MIC and NMI run in this process against the sandbox cloud and cluster, a pod's token request leaves from the pod's
// address, and doctor's checks read the same cluster. The CRDs are those of a cluster that ran aad-pod-identity
// before 1.6 (no schema, nothing pruned), so objects keep the old field spellings they were written with.

let sb: AzureSandbox;
let f: KubeFixture;
let world: NmiWorld;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let mic: Mic;
let nmi: RunningNmi;
let node: string;
const log: string[] = [];
let nextIp = 60;
const podIp = () => `127.0.0.${nextIp++}`;

before(async () => {
  sb = await startAzureSandbox({ nodes: 1 });
  node = sb.seed.nodes[0].name;
  f = await startKubeFixture({ nodes: kubeNodesOf(sb.seed) });
  await applyPre16Crds(f.kc);
  core = f.kc.makeApiClient(CoreV1Api);
  custom = f.kc.makeApiClient(CustomObjectsApi);
  world = new NmiWorld(f.kc, node);
  mic = await startTestMic(sb, f.kc, createLogger("info", (l) => log.push(`mic: ${l}`)), { leaderElection: { namespace: "default", name: "rules-mic", durationMs: 1500 } });
  await eventually("MIC to lead", () => mic.isLeader());
  nmi = await startNmi({
    cluster: endpointOf(f.kc),
    // Fast refusals: (16 + 4) x 0.1 s.
    options: { node, listenAddress: "127.0.0.1", port: 0, retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, findIdentityRetryIntervalSec: 0.1 },
    imdsBaseUrl: sb.cloud.endpoints.imds[node],
    logger: createLogger("info", (l) => log.push(l), "nmi: "),
  });
});

after(async () => {
  await nmi?.stop();
  await mic?.stop();
  await f?.stop();
  await sb?.close();
});

const until = <T>(what: string, check: () => T | Promise<T>) => eventually(what, check, { timeoutMs: 60_000, context: () => log.slice(-20).join("\n") });
const tokenUrl = (query: Record<string, string> = {}) => `http://127.0.0.1:${nmi.port}/metadata/identity/oauth2/token?${new URLSearchParams({ "api-version": "2018-02-01", resource: sb.cloud.endpoints.armResourceId, ...query })}`;
const create = (namespace: string, plural: string, body: object) => custom.createNamespacedCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", namespace, plural, body });
const namespace = async (prefix: string) => {
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
};
async function azureIdentityOnAzure(prefix: string): Promise<{ id: string; clientId: string }> {
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, uniqueName(prefix), { location: "eastus" });
  return { id: created.id!, clientId: created.clientId! };
}
async function assignedStatus(pod: string, podNamespace: string, identity: string): Promise<string | undefined> {
  const list = (await custom.listClusterCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", plural: "azureassignedidentities" })) as { items: { metadata: { name: string }; status?: { status?: string } }[] };
  return list.items.find((a) => a.metadata.name === `${pod}-${podNamespace}-${identity}`)?.status?.status;
}

test("an AzureIdentity written with the pre-1.6 ClientID/ResourceID gives its pod a token for that very identity through NMI", async () => {
  const ns = await namespace("legacy");
  const azure = await azureIdentityOnAzure("legacy");
  await create(ns, "azureidentities", { apiVersion: `${AAD_POD_IDENTITY_GROUP}/v1`, kind: "AzureIdentity", metadata: { name: "old-id", namespace: ns }, spec: { type: 0, ResourceID: azure.id, ClientID: azure.clientId } });
  const stored = (await custom.getNamespacedCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", namespace: ns, plural: "azureidentities", name: "old-id" })) as { spec: Record<string, unknown> };
  assert.deepEqual(Object.keys(stored.spec).sort(), ["ClientID", "ResourceID", "type"], "the API server kept the old spelling, and nothing else");
  await create(ns, "azureidentitybindings", { apiVersion: `${AAD_POD_IDENTITY_GROUP}/v1`, kind: "AzureIdentityBinding", metadata: { name: "old-binding", namespace: ns }, spec: { azureIdentity: "old-id", selector: "old" } });
  const ip = podIp();
  await world.pod(ns, "app", ip, { aadpodidbinding: "old" });
  await until("MIC to attach the identity and assign it", async () => (await assignedStatus("app", ns, "old-id")) === "Assigned");

  // The node also holds the kubelet identity: a request without the right client id would not come back as this one.
  const res = await getFrom(ip, tokenUrl(), { Metadata: "true" });
  assert.equal(res.status, 200, res.text);
  assert.equal(decodeJwt(res.json.access_token).appid, azure.clientId);
  const named = await getFrom(ip, tokenUrl({ client_id: azure.clientId }), { Metadata: "true" });
  assert.equal(named.status, 200, "a request naming the client id finds the identity spelled the old way");
  assert.equal(decodeJwt(named.json.access_token).appid, azure.clientId);
});

test("both spellings, the v1 one empty: spec.ts (MIC's and NMI's reader) and doctor's checks read the empty v1 value, as upstream's decode does, and field-casing says the old one is ignored", async () => {
  const ns = await namespace("both");
  const azure = await azureIdentityOnAzure("both");
  await create(ns, "azureidentities", { apiVersion: `${AAD_POD_IDENTITY_GROUP}/v1`, kind: "AzureIdentity", metadata: { name: "both-id", namespace: ns }, spec: { type: 0, resourceID: azure.id, clientID: "", ClientID: azure.clientId } });
  const stored = (await custom.getNamespacedCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", namespace: ns, plural: "azureidentities", name: "both-id" })) as AzureIdentity;
  assert.equal(identitySpec(stored).clientID, "", "the v1 spelling, present though empty, is what is read");

  const doctor = new DoctorContext({ scope: { namespace: ns, probe: false }, openKube: () => new KubeSession(f.kc, "default"), openAzure: () => productSession(sb), cluster: {} });
  const identities = await runCheck(azureIdentitiesCheck, doctor);
  assert.ok(identities.findings.some((x) => x.objects.includes(`AzureIdentity ${ns}/both-id`) && /has no clientID/.test(x.message)), JSON.stringify(identities.findings));
  const casing = await runCheck(fieldCasingCheck, doctor);
  const mine = casing.findings.filter((x) => x.objects.includes(`AzureIdentity ${ns}/both-id`));
  assert.equal(mine.length, 1, JSON.stringify(casing.findings));
  assert.doesNotMatch(mine[0].message, /read the old spelling/);
  assert.equal(mine[0].message, `AzureIdentity ${ns}/both-id still carries old-cased ClientID (${JSON.stringify(azure.clientId)}; MIC and NMI read clientID: "") beside the v1 fields; the old ones are ignored`);
});

test("aadpodidentity.k8s.io/Behavior: only exactly `namespaced` is namespaced, and MIC, NMI and doctor agree on every other value", async () => {
  const azure = await azureIdentityOnAzure("behavior");
  const values = ["namespaced", "Namespaced", "NAMESPACED", " namespaced", "namespaced ", "true"];
  const cases: { value: string; owner: string; other: string; ip: string; namespaced: boolean }[] = [];
  for (const [i, value] of values.entries()) {
    // The identity and its binding in one namespace, the pod its selector names in another.
    const owner = await namespace(`owner${i}`);
    const other = await namespace(`other${i}`);
    const selector = `behavior-${i}`;
    await create(owner, "azureidentities", { apiVersion: `${AAD_POD_IDENTITY_GROUP}/v1`, kind: "AzureIdentity", metadata: { name: "shared", namespace: owner, annotations: { [BEHAVIOR_ANNOTATION]: value } }, spec: { type: 0, resourceID: azure.id, clientID: azure.clientId } });
    await create(owner, "azureidentitybindings", { apiVersion: `${AAD_POD_IDENTITY_GROUP}/v1`, kind: "AzureIdentityBinding", metadata: { name: "shared-binding", namespace: owner }, spec: { azureIdentity: "shared", selector } });
    const ip = podIp();
    await world.pod(other, "app", ip, { aadpodidbinding: selector });
    cases.push({ value, owner, other, ip, namespaced: value === "namespaced" });
  }

  // MIC: every pod of another namespace gets the identity, except where the value is exactly "namespaced".
  await until("MIC to assign the identity wherever it is not namespaced", async () => {
    for (const c of cases.filter((x) => !x.namespaced)) assert.equal(await assignedStatus("app", c.other, "shared"), "Assigned", JSON.stringify(c.value));
  });
  await mic.idle();
  for (const c of cases.filter((x) => x.namespaced)) assert.equal(await assignedStatus("app", c.other, "shared"), undefined, "namespaced: no assignment in another namespace");

  // NMI: a token for the identity exactly where MIC assigned it.
  for (const c of cases) {
    const res = await getFrom(c.ip, tokenUrl(), { Metadata: "true" });
    if (c.namespaced) assert.equal(res.status, 404, `${JSON.stringify(c.value)}: ${res.text}`);
    else {
      assert.equal(res.status, 200, `${JSON.stringify(c.value)}: ${res.text}`);
      assert.equal(decodeJwt(res.json.access_token).appid, azure.clientId);
    }
  }

  // Doctor: MIC's own rule (what it would assign), and its findings on the pods and on the identities' reach.
  const doctor = new DoctorContext({ scope: { probe: false }, openKube: () => new KubeSession(f.kc, "default"), openAzure: () => productSession(sb), cluster: {} });
  const state = await doctor.desired();
  const labels = await runCheck(podLabelsCheck, doctor);
  const scope = await runCheck(selectorScopeCheck, doctor);
  for (const c of cases) {
    const name = JSON.stringify(c.value);
    assert.equal(state.assigned.some((a) => a.spec.podNamespace === c.other), !c.namespaced, `${name}: doctor models MIC's assignment`);
    const refused = labels.findings.some((x) => x.objects.includes(`Pod ${c.other}/app`) && /bound only where its identity is namespaced/.test(x.message));
    assert.equal(refused, c.namespaced, `${name}: doctor says the pod gets no identity exactly when it is namespaced`);
    const reachable = scope.findings.find((x) => x.objects.includes(`AzureIdentity ${c.owner}/shared`));
    assert.equal(Boolean(reachable), !c.namespaced, `${name}: doctor warns that other namespaces reach it exactly when it is not namespaced`);
    if (reachable) assert.ok(reachable.message.includes(`annotation is ${JSON.stringify(c.value)}, which is not namespaced mode`), reachable.message);
  }
});
