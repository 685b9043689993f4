import { endpointOf } from "../../src/kube/lite/from-kubeconfig.js";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ManagedIdentityCredential } from "@azure/identity";
import { createDefaultHttpClient, type HttpClient } from "@azure/core-rest-pipeline";
import { decodeJwt } from "jose";
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { productSession, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture, TEST_NODES, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { agentFrom, attachedIdentities, getFrom, NmiWorld, type NodeIdentity } from "../helpers/nmi.js";
import { startNmi, type RunningNmi } from "../../src/runtime/nmi/nmi.js";
import { createLogger } from "../../src/util/logger.js";
import { eventually } from "../helpers/eventually.js";
import { startWatchGate } from "../helpers/watch-gate.js";
import { IptablesError, type IptablesRunner } from "../../src/runtime/nmi/iptables.js";
import { NatTable } from "../../src/sandbox/kubelet/nat-table.js";
import { RedirectState } from "../../src/aadpodidentity/contract/nmi-reports.js";
import { DoctorContext } from "../../src/core/doctor/context.js";
import { runCheck } from "../../src/core/doctor/runner.js";
import { nmiReachableCheck } from "../../src/core/doctor/checks/nmi-reachable.js";
import { KubeSession } from "../../src/kube/session.js";

const NODE = TEST_NODES[0].name;
const OTHER_NODE = TEST_NODES[1].name;
let sb: AzureSandbox;
let kube: KubeFixture;
let world: NmiWorld;
let nmi: RunningNmi;
let base: string;
let imdsUrl: string;
const sandboxLog: string[] = [];
const nmiLog: string[] = [];
let nextIp = 11;
const podIp = () => `127.0.0.${nextIp++}`;
let a: NodeIdentity;
let b: NodeIdentity;
/** On the node's scale set, named by no AzureIdentity (as the kubelet identity). */
let nodeOnly: NodeIdentity;

/** Fast refusals: (16 + 4) x 0.1 s = 2 s at most. */
const FAST = { retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, findIdentityRetryIntervalSec: 0.1 };

const tokenUrl = (query: Record<string, string>, root = base) => `${root}/metadata/identity/oauth2/token?${new URLSearchParams({ "api-version": "2018-02-01", ...query })}`;
const imdsTokenRequests = () => sandboxLog.filter((l) => /^imds\[[^\]]+\] GET \/metadata\/identity\/oauth2\/token /.test(l)).length;

before(async () => {
  sb = await startAzureSandbox({ nodes: 2, log: (l) => sandboxLog.push(l) });
  kube = await startKubeFixture();
  await applyShippedCrds(kube.kc);
  world = new NmiWorld(kube.kc, NODE);
  imdsUrl = sb.cloud.endpoints.imds[sb.seed.nodes[0].name];
  const nodeOnlyName = uniqueName("id-node");
  [a, b, nodeOnly] = await attachedIdentities(sb, world, [uniqueName("id-a"), uniqueName("id-b"), nodeOnlyName], [nodeOnlyName]);
  nmi = await startNmi({
    cluster: endpointOf(kube.kc),
    options: { node: NODE, listenAddress: "127.0.0.1", port: 0, ...FAST },
    imdsBaseUrl: imdsUrl,
    logger: createLogger("verbose", (l) => nmiLog.push(l), "nmi: "),
  });
  base = `http://127.0.0.1:${nmi.port}`;
  // MSAL fixes its IMDS endpoint once per process: this file's ManagedIdentityCredentials all ask this NMI.
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = base;
});
after(async () => {
  await nmi?.stop();
  await kube?.stop();
  await sb?.close();
});

test("the availability probe, malformed token paths and missing parameters get upstream's fast answers", async () => {
  const probe = await getFrom("127.0.0.1", `${base}/metadata/identity/oauth2/token`);
  assert.equal(probe.status, 400);
  assert.deepEqual(probe.json, { error: "invalid_request", error_description: "Required metadata header not specified" });
  const cve = await getFrom("127.0.0.1", `${base}/metadata/identity\\oauth2\\token/?resource=x`, { Metadata: "true" });
  assert.equal(cve.status, 400);
  assert.equal(cve.text, "Invalid request\n");
  const upper = await getFrom("127.0.0.1", `${base}/METADATA/identity/oauth2/token?resource=https://vault.azure.net`, { Metadata: "true" });
  assert.equal(upper.status, 500, "the token route (metadata case-insensitive), then no pod has 127.0.0.1");
  assert.equal(upper.text, "pod list is empty\n");
  const noResource = await getFrom("127.0.0.1", tokenUrl({}), { Metadata: "true" });
  assert.equal(noResource.status, 400);
  assert.equal(noResource.text, "parameter resource cannot be empty\n");
  const instance = await getFrom("127.0.0.1", `${base}/metadata/instance?api-version=2021-02-01`, { Metadata: "true" });
  assert.equal(instance.status, 200, "proxied to the node's IMDS");
  assert.equal(instance.json.compute.vmScaleSetName, sb.seed.vmssName);
  assert.equal((await getFrom("127.0.0.1", `${base}/doesnotexist`, { Metadata: "true" })).status, 404);
  // Scheduled events take a POST (to acknowledge them): its body is forwarded, up to 64 KiB.
  const ack = await sb.raw(`${base}/metadata/scheduledevents?api-version=2020-07-01`, { method: "POST", headers: { Metadata: "true" }, body: JSON.stringify({ StartRequests: [{ EventId: "x" }] }) });
  assert.equal(ack.status, 404, "forwarded: the sandbox's IMDS emulates no scheduled events");
  assert.ok(sandboxLog.some((l) => /^imds\[[^\]]+\] POST \/metadata\/scheduledevents 404 /.test(l)));
  const tooBig = await sb.raw(`${base}/metadata/scheduledevents?api-version=2020-07-01`, { method: "POST", headers: { Metadata: "true" }, body: "x".repeat(70 * 1024) });
  assert.equal(tooBig.status, 413);
  assert.equal((await getFrom("127.0.0.1", `${base}/healthz`)).text, "Active\n");
});

test("a pod with an Assigned identity gets its token, raw and through ManagedIdentityCredential", async () => {
  const ip = podIp();
  const pod = { namespace: "default", name: uniqueName("app") };
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, a.object, "Assigned");
  const resource = sb.cloud.endpoints.armResourceId;

  const raw = await getFrom(ip, tokenUrl({ resource }), { Metadata: "true" });
  assert.equal(raw.status, 200, raw.text);
  assert.ok(Object.values(raw.json).every((v) => typeof v === "string"), "every value a string, as IMDS");
  assert.equal(raw.json.token_type, "Bearer");
  assert.equal(raw.json.resource, resource);
  assert.equal(decodeJwt(raw.json.access_token).appid, a.clientId);
  const byClientIdUpper = await getFrom(ip, tokenUrl({ resource, client_id: a.clientId.toUpperCase() }), { Metadata: "true" });
  assert.equal(byClientIdUpper.status, 200, "client ids compare case-insensitively");
  const byResourceId = await getFrom(ip, tokenUrl({ resource, mi_res_id: a.id }), { Metadata: "true" });
  assert.equal(decodeJwt(byResourceId.json.access_token).appid, a.clientId);
  const byObjectId = await getFrom(ip, tokenUrl({ resource, object_id: a.principalId }), { Metadata: "true" });
  assert.equal(byObjectId.status, 200, byObjectId.text);
  assert.equal(decodeJwt(byObjectId.json.access_token).oid, a.principalId);

  const agent = agentFrom(ip);
  const base = createDefaultHttpClient();
  const httpClient: HttpClient = { sendRequest: (request) => base.sendRequest(Object.assign(request, { agent })) };
  const token = await new ManagedIdentityCredential({ clientId: a.clientId, httpClient }).getToken(`${resource}.default`);
  const claims = decodeJwt(token.token);
  assert.equal(claims.appid, a.clientId);
  assert.equal(claims.oid, a.principalId);
  const implicit = await new ManagedIdentityCredential({ httpClient }).getToken("https://vault.azure.net/.default");
  assert.equal(decodeJwt(implicit.token).appid, a.clientId, "no id asked: the pod's one identity");
});

test("a pod without an identity, or asking for another pod's identity by any parameter, is refused", async () => {
  const mine = { namespace: "default", name: uniqueName("mine") };
  const other = { namespace: "default", name: uniqueName("other") };
  const bare = { namespace: "default", name: uniqueName("bare") };
  const [mineIp, otherIp, bareIp] = [podIp(), podIp(), podIp()];
  await world.pod(mine.namespace, mine.name, mineIp);
  await world.pod(other.namespace, other.name, otherIp);
  await world.pod(bare.namespace, bare.name, bareIp);
  await world.assign(mine, a.object, "Assigned");
  await world.assign(other, b.object, "Assigned");
  const resource = "https://vault.azure.net";
  const h = { Metadata: "true" };
  const [none, byClient, byResource, byMsiRes, byObject] = await Promise.all([
    getFrom(bareIp, tokenUrl({ resource }), h),
    getFrom(mineIp, tokenUrl({ resource, client_id: b.clientId }), h),
    getFrom(mineIp, tokenUrl({ resource, mi_res_id: b.id }), h),
    getFrom(mineIp, tokenUrl({ resource, msi_res_id: b.id.toLowerCase() }), h),
    getFrom(mineIp, tokenUrl({ resource, object_id: b.principalId }), h),
  ]);
  assert.equal(none.status, 404);
  assert.match(none.text, new RegExp(`getting assigned identities for pod default/${bare.name} in CREATED state failed after 16 attempts`));
  // Without the aadpodidbinding label no binding can select the pod: answered at once, not after the attempts
  // (which would end in the "failed after 16 attempts" answer above).
  const unlabelled = { namespace: "default", name: uniqueName("unlabelled") };
  const unlabelledIp = podIp();
  await world.pod(unlabelled.namespace, unlabelled.name, unlabelledIp, {});
  const refusedAtOnce = await getFrom(unlabelledIp, tokenUrl({ resource }), h);
  assert.equal(refusedAtOnce.status, 404, refusedAtOnce.text);
  assert.match(refusedAtOnce.text, new RegExp(`pod default/${unlabelled.name} has no aadpodidbinding label, so no AzureIdentityBinding selects it`));
  for (const refused of [byClient, byResource, byMsiRes, byObject]) {
    assert.equal(refused.status, 404, refused.text);
    assert.match(refused.text, /^clientID in request: .*##### REDACTED #####.*, getting assigned identities/);
    assert.ok(!refused.text.includes("access_token"));
  }
  assert.ok(!nmiLog.some((l) => l.includes(b.clientId)), "client ids are redacted in messages and logs");
  assert.ok(!sandboxLog.some((l) => l.startsWith("imds[") && (l.includes(b.principalId) || l.includes(b.clientId))), "IMDS was never asked about b for these pods (object_id is matched against the pod's own identities)");
  for (const [ip, reason] of [[mineIp, "not-assigned"], [unlabelledIp, "not-assigned"]] as const) {
    assert.ok(nmiLog.some((l) => l.startsWith(`nmi: decision: refused (${reason}) status=404 source=${ip} pod=default/`)), `a decision line for ${ip}`);
  }
  const good = await getFrom(otherIp, tokenUrl({ resource, client_id: b.clientId }), h);
  assert.equal(good.status, 200, "the owner of that identity gets it");

  const stranger = await getFrom("127.0.0.99", tokenUrl({ resource }), h);
  assert.equal(stranger.status, 500);
  assert.equal(stranger.text, "pod list is empty\n");
  // A pod on another node, even with an Assigned identity there, is not this NMI's to serve.
  const elsewhere = { namespace: "default", name: uniqueName("elsewhere") };
  const elsewhereIp = podIp();
  await world.pod(elsewhere.namespace, elsewhere.name, elsewhereIp, {}, OTHER_NODE);
  await world.assign(elsewhere, a.object, "Assigned", OTHER_NODE);
  assert.equal((await getFrom(elsewhereIp, tokenUrl({ resource }), h)).status, 500);
});

test("Unassigned, and namespaced identities of another namespace, do not count", async () => {
  const pod = { namespace: "default", name: uniqueName("gone") };
  const ip = podIp();
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, a.object, "Unassigned");
  assert.equal((await getFrom(ip, tokenUrl({ resource: "https://vault.azure.net" }), { Metadata: "true" })).status, 404);

  await kube.kc.makeApiClient((await import("@kubernetes/client-node")).CoreV1Api).createNamespace({ body: { metadata: { name: "team" } } });
  const nsIdentity = await world.identity("team", uniqueName("team-id"), { type: 0, resourceID: a.id, clientID: a.clientId }, { "aadpodidentity.k8s.io/Behavior": "namespaced" });
  const crossPod = { namespace: "default", name: uniqueName("cross") };
  const crossIp = podIp();
  await world.pod(crossPod.namespace, crossPod.name, crossIp);
  await world.assign(crossPod, nsIdentity, "Assigned");
  const refused = await getFrom(crossIp, tokenUrl({ resource: "https://vault.azure.net" }), { Metadata: "true" });
  assert.equal(refused.status, 404);
});

test("exception pods go to the node's IMDS, fenced off every identity an AzureIdentity names unless it is theirs", async () => {
  // Changed on purpose (issue 11): upstream (and this NMI before) let an exception pod take any identity on the
  // node, b's included; now only identities no AzureIdentity names (the kubelet identity) or its own assigned ones.
  await world.exception("default", uniqueName("exc"), { app: "NODE-AGENT" });
  const ip = podIp();
  const agent = { namespace: "default", name: uniqueName("agent") };
  await world.pod(agent.namespace, agent.name, ip, { app: "node-agent", aadpodidbinding: "agents" });
  const resource = "https://storage.azure.com/";
  const h = { Metadata: "true" };
  const nodeIdentity = await getFrom(ip, tokenUrl({ resource, client_id: nodeOnly.clientId }), h);
  assert.equal(nodeIdentity.status, 200, nodeIdentity.text);
  assert.equal(decodeJwt(nodeIdentity.json.access_token).appid, nodeOnly.clientId, "IMDS's token for an identity no AzureIdentity names");
  const ambiguous = await getFrom(ip, tokenUrl({ resource }), h);
  assert.equal(ambiguous.status, 400, "IMDS's own answer: several identities on the node and none named");
  assert.match(ambiguous.json.error_description, /Multiple user assigned identities exist/);

  const before = imdsTokenRequests();
  const spellings: Record<string, string>[] = [{ client_id: b.clientId }, { client_id: ` ${b.clientId.toUpperCase()}` }, { CLIENT_ID: b.clientId }, { mi_res_id: b.id }, { msi_res_id: b.id.toUpperCase() }];
  for (const query of spellings) {
    const fenced = await getFrom(ip, tokenUrl({ resource, ...query }), h);
    assert.equal(fenced.status, 403, `${JSON.stringify(query)}: ${fenced.text}`);
    assert.ok(fenced.text.startsWith(`pod default/${agent.name} is exempt from identity assignment (AzurePodIdentityException), and the identity it asks for is AzureIdentity default/${(b.object.metadata as { name: string }).name}'s, which is not assigned to it`), fenced.text);
    assert.ok(!fenced.text.includes("access_token"));
  }
  assert.equal(imdsTokenRequests(), before, "refused on the request: IMDS was not asked");
  const byObjectId = await getFrom(ip, tokenUrl({ resource, object_id: b.principalId }), h);
  assert.equal(byObjectId.status, 403, "IMDS said whose token it is: refused on the answer, the token dropped");
  assert.ok(!byObjectId.text.includes("access_token"));
  assert.ok(nmiLog.some((l) => l.startsWith(`nmi: decision: refused (fenced-identity) status=403 source=${ip} pod=default/${agent.name} identity="object_id `)), nmiLog.slice(-5).join("\n"));

  // Its own assigned identity is its to use.
  await world.assign(agent, b.object, "Assigned");
  await eventually("NMI sees b assigned to the exception pod and lets it through", async () => (await getFrom(ip, tokenUrl({ resource, client_id: b.clientId }), h)).status === 200);

  // --allow-exception-pod-identities: upstream's behaviour.
  const open = await startNmi({
    cluster: endpointOf(kube.kc),
    options: { node: NODE, listenAddress: "127.0.0.1", port: 0, ...FAST, allowExceptionPodIdentities: true },
    imdsBaseUrl: imdsUrl,
    logger: createLogger("error", () => undefined),
  });
  try {
    const taken = await getFrom(ip, tokenUrl({ resource, client_id: a.clientId }, `http://127.0.0.1:${open.port}`), h);
    assert.equal(taken.status, 200, taken.text);
    assert.equal(decodeJwt(taken.json.access_token).appid, a.clientId);
  } finally {
    await open.stop();
  }
});

test("tokens are cached per (identity, resource): the second request makes no IMDS call", async () => {
  const ip = podIp();
  const pod = { namespace: "default", name: uniqueName("cache") };
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, a.object, "Assigned");
  const resource = `https://cache-${randomUUID().slice(0, 6)}.example/`;
  const before = imdsTokenRequests();
  const first = await getFrom(ip, tokenUrl({ resource }), { Metadata: "true" });
  assert.equal(first.status, 200);
  assert.equal(imdsTokenRequests(), before + 1);
  const second = await getFrom(ip, tokenUrl({ resource, client_id: a.clientId }), { Metadata: "true" });
  assert.equal(second.status, 200);
  assert.equal(second.json.access_token, first.json.access_token);
  assert.equal(imdsTokenRequests(), before + 1, "served from NMI's cache");
  const other = await getFrom(ip, tokenUrl({ resource: `${resource}other` }), { Metadata: "true" });
  assert.equal(other.status, 200);
  assert.equal(imdsTokenRequests(), before + 2, "another resource is another token");
});

test("/host/token/ answers for the named pod, only from the host", async () => {
  const pod = { namespace: "default", name: uniqueName("flex") };
  await world.pod(pod.namespace, pod.name, podIp());
  await world.assign(pod, a.object, "Assigned");
  const headers = { podns: pod.namespace, podname: pod.name };
  const ok = await getFrom("127.0.0.1", `${base}/host/token/?resource=https://vault.azure.net`, headers);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.clientid, a.clientId);
  assert.equal(decodeJwt(ok.json.token.access_token).appid, a.clientId);
  const fromPod = await getFrom("127.0.0.50", `${base}/host/token/?resource=https://vault.azure.net`, headers);
  assert.equal(fromPod.status, 500);
  assert.equal(fromPod.text, "request remote address is not from a host\n");
  const missing = await getFrom("127.0.0.1", `${base}/host/token/?resource=https://vault.azure.net`);
  assert.equal(missing.status, 400);
});

test("a pod that asks before its identity is Assigned waits on the watch and gets it as soon as it is", { timeout: 60_000 }, async () => {
  // Attempts an hour apart: only the watch can wake the wait, so a polled wait would hang (and time out).
  const slow = await startNmi({
    cluster: endpointOf(kube.kc),
    options: { node: NODE, listenAddress: "127.0.0.1", port: 0, findIdentityRetryIntervalSec: 3600 },
    imdsBaseUrl: imdsUrl,
    logger: createLogger("error", () => undefined),
  });
  try {
    const ip = podIp();
    const pod = { namespace: "default", name: uniqueName("early") };
    await world.pod(pod.namespace, pod.name, ip);
    const resource = sb.cloud.endpoints.armResourceId;
    const pending = getFrom(ip, tokenUrl({ resource, client_id: a.clientId }, `http://127.0.0.1:${slow.port}`), { Metadata: "true" });
    const aai = await world.assign(pod, a.object, "Created");
    await world.setAssignedStatus(aai, "Assigned");
    const res = await pending;
    assert.equal(res.status, 200, res.text);
    assert.equal(decodeJwt(res.json.access_token).appid, a.clientId);
  } finally {
    await slow.stop();
  }
});

test("with --set-retry-after-header a pod still unassigned at the end gets 503 and Retry-After; instance metadata can be blocked", async () => {
  const strict = await startNmi({
    cluster: endpointOf(kube.kc),
    options: { node: NODE, listenAddress: "127.0.0.1", port: 0, retryAttemptsForCreated: 2, retryAttemptsForAssigned: 1, findIdentityRetryIntervalSec: 0.1, setRetryAfterHeader: true, blockInstanceMetadata: true },
    imdsBaseUrl: imdsUrl,
    logger: createLogger("error", () => undefined),
  });
  try {
    const ip = podIp();
    await world.pod("default", uniqueName("late"), ip);
    const res = await getFrom(ip, tokenUrl({ resource: "https://vault.azure.net" }, `http://127.0.0.1:${strict.port}`), { Metadata: "true" });
    assert.equal(res.status, 503);
    assert.equal(res.headers["retry-after"], "20");
    const blocked = await getFrom(ip, `http://127.0.0.1:${strict.port}/metadata/instance?api-version=2021-02-01`);
    assert.equal(blocked.status, 403);
    assert.equal(blocked.text, "Request blocked by AAD Pod Identity NMI\n");
  } finally {
    await strict.stop();
  }
});

test("a service principal identity (type 1) gets its token from Entra with the secret the AzureIdentity names", async () => {
  const app = sb.addApplication(uniqueName("sp"));
  const secretName = uniqueName("sp-secret");
  await world.core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: secretName, namespace: "default" }, data: { clientsecret: Buffer.from(app.clientSecret).toString("base64") } } });
  const sp = await world.identity("default", uniqueName("sp-id"), {
    type: 1,
    clientID: app.clientId,
    tenantID: sb.cloud.cliCredential.tenantId,
    clientPassword: { name: secretName, namespace: "default" },
    adEndpoint: sb.cloud.endpoints.entra,
  });
  const pod = { namespace: "default", name: uniqueName("sp-app") };
  const ip = podIp();
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, sp, "Assigned");
  const res = await getFrom(ip, tokenUrl({ resource: sb.cloud.endpoints.armResourceId }), { Metadata: "true" });
  assert.equal(res.status, 200, res.text);
  assert.ok(Object.values(res.json).every((v) => typeof v === "string"));
  assert.equal(decodeJwt(res.json.access_token).appid, app.clientId);
  assert.ok(!nmiLog.some((l) => l.includes(app.clientSecret) || l.includes(res.json.access_token)), "no secret or token in NMI's log");
});

test("NMI keeps serving across an API server restart: its watches come back and see new pods", async () => {
  await kube.restart();
  const ip = podIp();
  const pod = { namespace: "default", name: uniqueName("after-restart") };
  world = new NmiWorld(kube.kc, NODE);
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, a.object, "Assigned");
  const res = await getFrom(ip, tokenUrl({ resource: sb.cloud.endpoints.armResourceId }), { Metadata: "true" });
  assert.equal(res.status, 200, res.text);
  const metrics = await getFrom("127.0.0.1", `${base}/metrics`);
  assert.match(metrics.text, /aadpodidentity_nmi_operations_duration_seconds_count\{operation_type="\/metadata\/identity\/oauth2\/token",status_code="200",namespace="default",resource="[^"]+"\} \d+/);
  assert.match(metrics.text, /aadpodidentity_kubernetes_api_operations_errors_count\{operation_type="get_pod_list"\} [1-9]/, "unknown callers are counted");
  for (const [outcome, reason] of [["issued", "assigned-identity"], ["refused", "not-assigned"], ["refused", "non-canonical-token-path"], ["refused", "fenced-identity"], ["passed-through", "exception-pod"], ["forwarded", "imds-path"]]) {
    assert.match(metrics.text, new RegExp(`^aadpodidentity_nmi_decisions_count\\{outcome="${outcome}",reason="${reason}"\\} [1-9]`, "m"), `${outcome}/${reason} counted`);
  }
  assert.ok(nmiLog.some((l) => l.startsWith(`nmi: decision: issued (assigned-identity) status=200 source=${ip} pod=default/${pod.name} identity="none" path=/metadata/identity/oauth2/token`)), "one info line per decision");
  assert.equal((await getFrom("127.0.0.1", `${base}/healthz`)).text, "Active\n", "the watches are back");
});

test("an address is a pod's only while the API server says so: a cache still holding a deleted pod, or two pods at one address, never hands out the old pod's token", async () => {
  const gate = await startWatchGate(endpointOf(kube.kc));
  const lines: string[] = [];
  const lagging = await startNmi({ cluster: gate.endpoint, options: { node: NODE, listenAddress: "127.0.0.1", port: 0, ...FAST }, imdsBaseUrl: imdsUrl, logger: createLogger("info", (l) => lines.push(l), "nmi: ") });
  const root = `http://127.0.0.1:${lagging.port}`;
  const h = { Metadata: "true" };
  const resource = sb.cloud.endpoints.armResourceId;
  try {
    const ip = podIp();
    const old = { namespace: "default", name: uniqueName("old") };
    await world.pod(old.namespace, old.name, ip);
    await world.assign(old, a.object, "Assigned");
    await eventually("the old pod gets its own token", async () => (await getFrom(ip, tokenUrl({ resource }, root), h)).status === 200);

    // NMI's watches lag from now on; the old pod goes and a new one comes up on its address (as CNI plugins reuse them).
    gate.hold();
    await world.core.deleteNamespacedPod({ namespace: old.namespace, name: old.name, gracePeriodSeconds: 0 });
    const newcomer = { namespace: "default", name: uniqueName("new") };
    await world.pod(newcomer.namespace, newcomer.name, ip);
    const asks: Record<string, string>[] = [{ resource, client_id: a.clientId }, { resource }, { resource, mi_res_id: a.id }];
    for (const query of asks) {
      const asked = await getFrom(ip, tokenUrl(query, root), h);
      assert.equal(asked.status, 503, asked.text);
      assert.equal(asked.headers["retry-after"], "1", "the caller may retry once NMI knows it");
      assert.ok(!asked.text.includes("access_token"));
    }
    assert.ok(lines.some((l) => l.startsWith(`nmi: decision: refused (stale-pod) status=503 source=${ip} pod=default/${old.name}`)), lines.slice(-3).join("\n"));

    // Caught up: the address is the newcomer's, which has no identity (and never gets the old one's).
    gate.release();
    await eventually("NMI to attribute the address to the newcomer", async () => {
      await getFrom(ip, tokenUrl({ resource }, root), h);
      return lines.some((l) => l.includes(`source=${ip} pod=default/${newcomer.name}`));
    });
    const after = await getFrom(ip, tokenUrl({ resource, client_id: a.clientId }, root), h);
    assert.notEqual(after.status, 200, after.text);
    assert.ok(!after.text.includes("access_token"));

    // Two pods of this node claiming one address: nobody gets an answer for either.
    const twin = podIp();
    await world.pod("default", uniqueName("twin-a"), twin);
    await world.pod("default", uniqueName("twin-b"), twin);
    await eventually("NMI to see both pods at one address", async () => (await getFrom(twin, tokenUrl({ resource }, root), h)).status === 503);
    assert.ok(lines.some((l) => l.startsWith(`nmi: decision: refused (ambiguous-pod) status=503 source=${twin}`)));
  } finally {
    await lagging.stop();
    await gate.close();
  }
});

test("an assignment is a pod's only while it carries its binding's label: relabelled, or a new pod reusing a deleted one's name, gets nothing", async () => {
  const resource = sb.cloud.endpoints.armResourceId;
  const h = { Metadata: "true" };
  const ip = podIp();
  const pod = { namespace: "default", name: uniqueName("relabel") };
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, a.object, "Assigned");
  assert.equal((await getFrom(ip, tokenUrl({ resource }), h)).status, 200);

  await world.core.patchNamespacedPod({ namespace: pod.namespace, name: pod.name, body: [{ op: "remove", path: "/metadata/labels/aadpodidbinding" }] }, setHeaderOptions("Content-Type", PatchStrategy.JsonPatch));
  await eventually("NMI to refuse the pod that lost its label", async () => (await getFrom(ip, tokenUrl({ resource }), h)).status === 404);
  const relabelled = await getFrom(ip, tokenUrl({ resource, client_id: a.clientId }), h);
  assert.equal(relabelled.status, 404, relabelled.text);
  assert.ok(!relabelled.text.includes("access_token"));

  // The assignment MIC has not removed yet (ARM slow) names the old pod: a new pod of that name, unlabelled, gets nothing.
  await world.core.deleteNamespacedPod({ namespace: pod.namespace, name: pod.name, gracePeriodSeconds: 0 });
  const other = podIp();
  await world.pod(pod.namespace, pod.name, other, { app: "impostor" });
  await eventually("NMI to know the new pod", async () => (await getFrom(other, tokenUrl({ resource }), h)).status !== 500);
  const impostor = await getFrom(other, tokenUrl({ resource, client_id: a.clientId }), h);
  assert.equal(impostor.status, 404, impostor.text);
  assert.ok(!impostor.text.includes("access_token"));
});

test("an AzureIdentity without a client id is asked for by its resource id, and one with neither gets nothing (never the node's own identity)", async () => {
  const resource = sb.cloud.endpoints.armResourceId;
  const h = { Metadata: "true" };
  const byResource = await world.identity("default", uniqueName("res-only"), { type: 0, resourceID: b.id });
  const ip = podIp();
  const pod = { namespace: "default", name: uniqueName("res-only") };
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, byResource, "Assigned");
  const got = await getFrom(ip, tokenUrl({ resource }), h);
  assert.equal(got.status, 200, got.text);
  assert.equal(decodeJwt(got.json.access_token).appid, b.clientId, "b's token, asked for by b's resource id");

  const nameless = await world.identity("default", uniqueName("nameless"), { type: 0 });
  const ip2 = podIp();
  const pod2 = { namespace: "default", name: uniqueName("nameless") };
  await world.pod(pod2.namespace, pod2.name, ip2);
  await world.assign(pod2, nameless, "Assigned");
  const before = imdsTokenRequests();
  const refused = await getFrom(ip2, tokenUrl({ resource: `${resource}nameless` }), h);
  assert.equal(refused.status, 403, refused.text);
  assert.match(refused.text, /names neither a clientID nor a resourceID/);
  assert.equal(imdsTokenRequests(), before, "IMDS was not asked for the node's default identity");
});

test("on the token port, /metrics and /healthz answer the node only; an HTTP/1.1 request without Host is refused on the record", async () => {
  const ip = podIp();
  await world.pod("default", uniqueName("peek"), ip);
  for (const path of ["/metrics", "/healthz"]) {
    const fromPod = await getFrom(ip, `${base}${path}`);
    assert.equal(fromPod.status, 404, `${path} from a pod`);
    assert.equal((await getFrom("127.0.0.1", `${base}${path}`)).status, 200, `${path} from the node`);
  }
  const { connect } = await import("node:net");
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: nmi.port, localAddress: ip }, () => socket.write("GET /metadata/identity/oauth2/token?resource=x HTTP/1.1\r\nMetadata: true\r\nConnection: close\r\n\r\n"));
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.ok(nmiLog.some((l) => l.startsWith(`nmi: decision: refused (malformed-request) status=400 source=${ip}`)), nmiLog.slice(-3).join("\n"));
});

test("NMI records its iptables redirect's state as Events on its Node, failure and recovery alike; doctor reads the newest", async () => {
  // NMI's DaemonSet and its pod on the other node, as doctor finds them (this API server runs no controllers).
  const labels = { "app.kubernetes.io/name": "podid", "app.kubernetes.io/component": "nmi" };
  const apps = kube.kc.makeApiClient(AppsV1Api);
  const core = kube.kc.makeApiClient(CoreV1Api);
  const podSpec = { nodeName: OTHER_NODE, hostNetwork: true, containers: [{ name: "nmi", image: "podid-runtime", args: ["runtime", "nmi"] }] };
  await apps.createNamespacedDaemonSet({ namespace: "kube-system", body: { metadata: { name: "podid-nmi", labels }, spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } } } });
  await core.createNamespacedPod({ namespace: "kube-system", body: { metadata: { name: "podid-nmi-x", labels }, spec: podSpec } });

  // The node's nat table, which the test breaks: first this process may not change it, then changing it fails, then it works.
  const table = new NatTable();
  let mode: "denied" | "failing" | "working" = "denied";
  const iptables: IptablesRunner = async (args) => {
    if (mode === "denied") throw new IptablesError("iptables: Permission denied (you must be root)", true);
    if (mode === "failing") return { ok: false, stdout: "", stderr: "iptables: Resource temporarily unavailable." };
    const answer = table.run(args);
    return { ok: answer.code === 0, stdout: answer.stdout, stderr: answer.stderr };
  };
  const other = await startNmi({
    cluster: endpointOf(kube.kc),
    options: { node: OTHER_NODE, listenAddress: "127.0.0.1", port: 0, iptables: true, iptUpdateIntervalSec: 0.2, ...FAST },
    imdsBaseUrl: imdsUrl,
    iptables,
    logger: createLogger("info", (l) => nmiLog.push(l), "nmi-other: "),
  });
  const doctor = () => runCheck(nmiReachableCheck, new DoctorContext({ scope: { probe: false }, openKube: () => new KubeSession(kube.kc, "default"), openAzure: () => productSession(sb), cluster: {} }));
  const nodeFinding = async () => (await doctor()).findings.find((f) => f.objects.includes(`Node ${OTHER_NODE}`));
  const redirectEvents = async () =>
    (await core.listNamespacedEvent({ namespace: "default" })).items.filter((e) => e.involvedObject.kind === "Node" && e.involvedObject.name === OTHER_NODE && e.source?.component === "nmi");
  try {
    const denied = await eventually("doctor to warn that NMI may not install the redirect", async () => (await nodeFinding()) ?? false);
    assert.equal(denied.severity, "warn");
    assert.match(denied.message, new RegExp(`^NMI on node ${OTHER_NODE} has no iptables redirect in place: .*NMI reports ${RedirectState.NotPermitted}`));
    await eventually("the Event to be counted again at each check, so that it lives as long as the trouble", async () => assert.ok(((await redirectEvents()).find((e) => e.reason === RedirectState.NotPermitted)?.count ?? 0) >= 2));

    mode = "failing";
    const failed = await eventually("doctor to fail the node whose NMI cannot keep the redirect", async () => ((await nodeFinding())?.severity === "fail" ? (await nodeFinding())! : false));
    assert.match(failed.message, /cannot keep its iptables redirect in place: .*Resource temporarily unavailable/);

    mode = "working";
    await eventually("doctor to see the recovery (NMI logs nothing for a re-assertion that succeeds, but records it)", async () => {
      const result = await doctor();
      assert.equal(result.findings.find((f) => f.objects.includes(`Node ${OTHER_NODE}`)), undefined);
      assert.equal((result.observed.redirectStates as Record<string, string>)[OTHER_NODE], RedirectState.Installed);
    });
    assert.deepEqual(table.dnat({ source: "127.0.0.99", destination: "169.254.169.254", port: 80 }), { ip: "127.0.0.1", port: other.port }, "the redirect is in place");
    const reasons = (await redirectEvents()).map((e) => `${e.type} ${e.reason}`);
    assert.deepEqual([...new Set(reasons)].sort(), [`Normal ${RedirectState.Installed}`, `Warning ${RedirectState.Failed}`, `Warning ${RedirectState.NotPermitted}`]);
  } finally {
    await other.stop();
  }
  assert.equal(table.dnat({ source: "127.0.0.99", destination: "169.254.169.254", port: 80 }), undefined, "NMI took its redirect with it");
});
