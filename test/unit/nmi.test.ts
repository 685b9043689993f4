import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Deployment, V1Pod, V1ReplicaSet } from "@kubernetes/client-node";
import type { AssignedIdentityState, AzureAssignedIdentity, AzureIdentity, AzurePodIdentityException } from "../../src/aadpodidentity/types.js";
import { KUBENET_REFUSAL, redactClientId } from "../../src/aadpodidentity/contract/messages.js";
import { isExceptionPod, isMicPod, upstreamMicShortcut } from "../../src/aadpodidentity/exceptions.js";
import { podsWithIp } from "../../src/aadpodidentity/pods.js";
import { fencedIdentity, selectIdentity } from "../../src/aadpodidentity/selection.js";
import { ensureRedirect, expectedChain, removeRedirect, type IptablesRunner } from "../../src/runtime/nmi/iptables.js";
import { NatTable } from "../../src/sandbox/kubelet/nat-table.js";
import { kubenetRefusal } from "../../src/runtime/nmi/main.js";
import { createLogger } from "../../src/util/logger.js";

const identity = (namespace: string, name: string, clientID: string, annotations: Record<string, string> = {}): AzureIdentity => ({
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind: "AzureIdentity",
  metadata: { name, namespace, annotations },
  spec: { type: 0, clientID, resourceID: `/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}` },
});
const aai = (pod: string, id: AzureIdentity, status: AssignedIdentityState | undefined, podNamespace = "default"): AzureAssignedIdentity => ({
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind: "AzureAssignedIdentity",
  metadata: { name: `${pod}-${podNamespace}-${id.metadata.name}`, namespace: "default" },
  spec: {
    azureIdentityRef: id,
    azureBindingRef: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name: `${id.metadata.name}-binding`, namespace: id.metadata.namespace }, spec: { azureIdentity: id.metadata.name, selector: pod } },
    pod,
    podNamespace,
    nodename: "node-0",
  },
  status: status === undefined ? undefined : { status },
});
const pod = { namespace: "default", name: "app" };
const a = identity("default", "a", "AAAA-1111");
const b = identity("default", "b", "BBBB-2222");

test("selection: only Assigned (or legacy empty) counts; ids compare case-insensitively; first by namespace/name", () => {
  assert.deepEqual(selectIdentity([aai("app", a, "Created")], pod, {}, false), { kind: "pending", hasCreated: true });
  assert.deepEqual(selectIdentity([aai("app", a, "Unassigned")], pod, {}, false), { kind: "pending", hasCreated: false });
  assert.deepEqual(selectIdentity([aai("other", a, "Assigned")], pod, {}, false), { kind: "pending", hasCreated: false });
  const both = [aai("app", b, "Assigned"), aai("app", a, "Assigned")];
  assert.equal((selectIdentity(both, pod, {}, false) as { identity: AzureIdentity }).identity.metadata.name, "a");
  assert.equal((selectIdentity(both, pod, { clientId: "bbbb-2222" }, false) as { identity: AzureIdentity }).identity.metadata.name, "b");
  assert.equal((selectIdentity(both, pod, { resourceId: b.spec.resourceID!.toUpperCase() }, false) as { identity: AzureIdentity }).identity.metadata.name, "b");
  assert.deepEqual(selectIdentity(both, pod, { clientId: "CCCC" }, false), { kind: "pending", hasCreated: false });
  assert.equal(selectIdentity([aai("app", a, undefined)], pod, {}, false).kind, "found");
});

test("selection: namespaced mode (flag or Behavior annotation) excludes identities of other namespaces", () => {
  const foreign = identity("team", "t", "TTTT-3333");
  const annotated = identity("team", "n", "NNNN-4444", { "aadpodidentity.k8s.io/Behavior": "namespaced" });
  assert.equal(selectIdentity([aai("app", foreign, "Assigned")], pod, {}, false).kind, "found");
  assert.equal(selectIdentity([aai("app", foreign, "Assigned")], pod, {}, true).kind, "excluded");
  assert.equal(selectIdentity([aai("app", annotated, "Assigned")], pod, {}, false).kind, "excluded");
});

test("pods by IP, exceptions and the MIC short-circuit", () => {
  const p = (name: string, ip: string, phase?: string, labels: Record<string, string> = {}, namespace = "default"): V1Pod => ({ metadata: { name, namespace, labels }, status: { podIP: ip, phase } });
  assert.deepEqual(podsWithIp([p("x", "10.0.0.1", "Succeeded"), p("y", "10.0.0.1", "Running"), p("z", "10.0.0.2")], "10.0.0.1").map((x) => x.metadata?.name), ["y"]);
  const exc: AzurePodIdentityException = { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzurePodIdentityException", metadata: { name: "e", namespace: "default" }, spec: { podLabels: { app: "Agent", tier: "x" } } };
  assert.ok(isExceptionPod(p("a", "1", "Running", { app: "agent" }), [exc]), "any one label, value case-insensitive");
  assert.ok(!isExceptionPod(p("a", "1", "Running", { App: "agent" }), [exc]), "keys exact");
  assert.ok(!isExceptionPod(p("a", "1", "Running", { app: "agent" }, "other"), [exc]), "same namespace only");
  assert.equal(redactClientId("7eb6a6a9-0000-0000-0000-00000000a6a9"), "7eb6##### REDACTED #####a6a9");
});

test("MIC's pods are known by their owner chain to the podid-mic Deployment in --MICNamespace, never by a name", () => {
  const owner = (kind: string, name: string, uid: string, controller = true) => ({ apiVersion: "apps/v1", kind, name, uid, controller });
  const MIC_LABELS = { "app.kubernetes.io/name": "podid", "app.kubernetes.io/component": "mic" };
  const rs = (namespace: string, name: string, uid: string, deployment: string, deploymentUid = "d-mic", labels: Record<string, string> = MIC_LABELS): V1ReplicaSet => ({
    metadata: { namespace, name, uid, labels, ownerReferences: [owner("Deployment", deployment, deploymentUid)] },
  });
  const deployments: V1Deployment[] = [{ metadata: { namespace: "kube-system", name: "podid-mic", uid: "d-mic" }, spec: { selector: { matchLabels: MIC_LABELS }, template: {} } }];
  const pod = (namespace: string, name: string, ...refs: ReturnType<typeof owner>[]): V1Pod => ({ metadata: { namespace, name, ownerReferences: refs } });
  const replicaSets = [rs("kube-system", "podid-mic-7d9f", "u1", "podid-mic"), rs("kube-system", "mic-5c4b", "u2", "mic"), rs("kube-system", "microsvc-1a2b", "u3", "microsvc")];
  assert.ok(isMicPod(pod("kube-system", "podid-mic-7d9f-x", owner("ReplicaSet", "podid-mic-7d9f", "u1")), replicaSets, deployments, "kube-system"));
  assert.ok(!isMicPod(pod("kube-system", "podid-mic-7d9f-x", owner("ReplicaSet", "podid-mic-7d9f", "u1")), replicaSets, deployments, "default"), "another namespace than --MICNamespace");
  assert.ok(!isMicPod(pod("kube-system", "mic-5c4b-x", owner("ReplicaSet", "mic-5c4b", "u2")), replicaSets, deployments, "kube-system"), "upstream's mic* ReplicaSet name counts for nothing");
  assert.ok(!isMicPod(pod("kube-system", "microsvc-1a2b-x", owner("ReplicaSet", "microsvc-1a2b", "u3")), replicaSets, deployments, "kube-system"), "a workload named like MIC");
  assert.ok(!isMicPod(pod("kube-system", "forged", owner("ReplicaSet", "podid-mic-7d9f", "other-uid")), replicaSets, deployments, "kube-system"), "an owner reference naming MIC's ReplicaSet with another uid");
  assert.ok(!isMicPod(pod("kube-system", "forged", owner("ReplicaSet", "podid-mic-0000", "u9")), replicaSets, deployments, "kube-system"), "a ReplicaSet the cache does not know");
  assert.ok(!isMicPod(pod("kube-system", "adopted", owner("ReplicaSet", "podid-mic-7d9f", "u1", false)), replicaSets, deployments, "kube-system"), "an owner that is not the controller");
  assert.ok(!isMicPod(pod("default", "elsewhere", owner("ReplicaSet", "podid-mic-7d9f", "u1")), replicaSets, deployments, "default"), "MIC's ReplicaSet is in kube-system, the pod in default");
  // A ReplicaSet that claims podid's MIC Deployment: by a made-up uid, or by the real one without its labels.
  const claimed = [rs("kube-system", "evil-rs", "u7", "podid-mic", "11111111-fake"), rs("kube-system", "stray-rs", "u8", "podid-mic", "d-mic", { app: "evil" })];
  assert.ok(!isMicPod(pod("kube-system", "evil", owner("ReplicaSet", "evil-rs", "u7")), claimed, deployments, "kube-system"), "an owner reference to a Deployment uid that is not MIC's");
  assert.ok(!isMicPod(pod("kube-system", "stray", owner("ReplicaSet", "stray-rs", "u8")), claimed, deployments, "kube-system"), "a ReplicaSet MIC's Deployment would not adopt");
  assert.ok(!isMicPod(pod("kube-system", "podid-mic-7d9f-x", owner("ReplicaSet", "podid-mic-7d9f", "u1")), replicaSets, [], "kube-system"), "no MIC Deployment at all");

  // What upstream's NMI does (doctor models it for --runtime upstream): a ReplicaSet named mic* in --MICNamespace.
  assert.ok(upstreamMicShortcut(pod("Default", "mic-1", owner("ReplicaSet", "mic-7d9f", "u")), "default"));
  assert.ok(!upstreamMicShortcut(pod("default", "mic-1", owner("ReplicaSet", "mic-7d9f", "u")), "kube-system"));
});

test("exception fence: an identity any AzureIdentity names is refused unless assigned to that pod; ids in any casing", () => {
  const c = identity("team", "c", "CCCC-3333");
  const legacyResourceId = "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/legacy";
  const legacy = { ...identity("default", "legacy", ""), spec: { type: 0, ClientID: "LLLL-5555", ResourceID: legacyResourceId } } as unknown as AzureIdentity;
  const all = [a, b, c, legacy];
  const assigned = [aai("agent", a, "Assigned"), aai("agent", b, "Created")];
  const agent = { namespace: "default", name: "agent" };
  const fenced = (clientIds: string[], resourceIds: string[] = [], forceNamespaced = false) => fencedIdentity({ clientIds, resourceIds }, all, assigned, agent, forceNamespaced)?.metadata.name;
  assert.equal(fenced(["aaaa-1111"]), undefined, "its own Assigned identity");
  assert.equal(fenced(["BBBB-2222"]), "b", "Created is not assigned yet");
  assert.equal(fenced([" cccc-3333 "]), "c", "blanks and casing do not matter");
  assert.equal(fenced(["llll-5555"]), "legacy", "legacy ClientID spelling");
  assert.equal(fenced([], [b.spec.resourceID!.toUpperCase()]), "b", "by resource id");
  assert.equal(fenced([], [legacyResourceId]), "legacy");
  assert.equal(fenced(["kubelet-identity-client-id"]), undefined, "an identity no AzureIdentity names (the kubelet identity)");
  assert.equal(fenced([]), undefined);
  const foreignNamespaced = identity("team", "n", "NNNN-4444", { "aadpodidentity.k8s.io/Behavior": "namespaced" });
  assert.equal(fencedIdentity({ clientIds: ["nnnn-4444"], resourceIds: [] }, [foreignNamespaced], [aai("agent", foreignNamespaced, "Assigned")], agent, false)?.metadata.name, "n", "assigned, but namespaced rules exclude it");
});

test("kubenet guard: --network-plugin wins, else the kubelet defaults file; allowed with the flag", () => {
  const logger = createLogger("error", () => undefined);
  const file = (text: string) => () => text;
  assert.equal(kubenetRefusal({ allowKubenet: false, kubeletConfig: "/x" }, logger, file("KUBELET_FLAGS=--network-plugin=kubenet --max-pods=110")), KUBENET_REFUSAL);
  assert.equal(kubenetRefusal({ allowKubenet: false, kubeletConfig: "/x" }, logger, file("KUBELET_FLAGS=--network-plugin=cni")), undefined);
  assert.equal(kubenetRefusal({ allowKubenet: true, kubeletConfig: "/x" }, logger, file("--network-plugin=kubenet")), undefined);
  assert.equal(kubenetRefusal({ allowKubenet: false, networkPlugin: "Kubenet", kubeletConfig: "/x" }, logger, file("")), KUBENET_REFUSAL);
  const missing = () => {
    throw Object.assign(new Error("nope"), { code: "ENOENT" });
  };
  assert.equal(kubenetRefusal({ allowKubenet: false, kubeletConfig: "/x" }, logger, missing), undefined);
});

/** The sandbox's nat table (what its nodes' `iptables` records), answering NMI as iptables does. */
function natTable(): { run: IptablesRunner; table: NatTable; rules: (chain: string) => string[] | undefined } {
  const table = new NatTable();
  const run: IptablesRunner = async (args) => {
    const answer = table.run(args);
    return { ok: answer.code === 0, stdout: answer.stdout, stderr: answer.stderr };
  };
  const rules = (chain: string) => {
    const listed = table.run(["-t", "nat", "-S", chain]);
    return listed.code === 0 ? listed.stdout.trim().split("\n") : undefined;
  };
  return { run, table, rules };
}

test("iptables: installs the chain and the jump once, repairs a tampered chain, removes everything", async () => {
  const { run, table, rules } = natTable();
  const rule = { metadataIp: "169.254.169.254", metadataPort: 80, targetIp: "10.244.0.1", targetPort: 2579 };
  assert.equal((await ensureRedirect(run, rule)).length, 3);
  assert.deepEqual(rules("PREROUTING"), ["-P PREROUTING ACCEPT", "-A PREROUTING -j aad-metadata"]);
  assert.deepEqual(rules("aad-metadata"), expectedChain(rule));
  assert.deepEqual(table.dnat({ source: "10.244.0.9", destination: "169.254.169.254", port: 80 }), { ip: "10.244.0.1", port: 2579 }, "a pod's metadata traffic goes to NMI");
  assert.equal(table.dnat({ source: "127.0.0.1", destination: "169.254.169.254", port: 80 }), undefined, "the node's own does not");
  assert.deepEqual(await ensureRedirect(run, rule), [], "already right: nothing to do");
  table.run(["-t", "nat", "-A", "aad-metadata", "-j", "ACCEPT"]);
  assert.equal((await ensureRedirect(run, rule)).length, 1);
  assert.deepEqual(await ensureRedirect(run, rule), []);
  await removeRedirect(run);
  assert.deepEqual(rules("PREROUTING"), ["-P PREROUTING ACCEPT"]);
  assert.equal(rules("aad-metadata"), undefined);
  assert.equal(table.dnat({ source: "10.244.0.9", destination: "169.254.169.254", port: 80 }), undefined, "without NMI's rule the traffic goes where it was sent");
  await removeRedirect(run);
});

test("token cache: served until 5 minutes before expiry, one fetch for concurrent requests, expires_in counted from now", async () => {
  const { createServer } = await import("node:http");
  const { TokenSource } = await import("../../src/runtime/nmi/tokens.js");
  let now = 1_700_000_000_000;
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? "");
    const issued = Math.floor(now / 1000);
    res.writeHead(200, { "content-type": "application/json" });
    // As IMDS: the answer names the identity asked for (a stray one when told to, to see it refused).
    const clientId = new URL(req.url ?? "/", "http://x").searchParams.get("client_id") ?? "";
    res.end(JSON.stringify({ access_token: `t${seen.length}`, expires_in: 3600, expires_on: issued + 3600, not_before: issued, resource: "r", token_type: "Bearer", client_id: clientId === "STRAY" ? "someone-else" : clientId }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as { port: number }).port;
    const tokens = new TokenSource({ imdsBaseUrl: `http://127.0.0.1:${port}`, now: () => now });
    const id: AzureIdentity = identity("default", "a", "CLIENT-1");
    const [t1, t2] = await Promise.all([tokens.tokenFor(id, "https://vault.azure.net"), tokens.tokenFor(id, "https://vault.azure.net")]);
    assert.equal(seen.length, 1);
    assert.match(seen[0], /client_id=CLIENT-1/);
    assert.equal(t1.access_token, "t1");
    assert.equal(t2.access_token, "t1");
    assert.equal(t1.expires_in, "3600", "IMDS's numbers come back as strings");
    now += 54 * 60_000;
    const cached = await tokens.tokenFor(id, "https://vault.azure.net");
    assert.equal(cached.access_token, "t1");
    assert.equal(cached.expires_in, String(6 * 60));
    now += 2 * 60_000;
    assert.equal((await tokens.tokenFor(id, "https://vault.azure.net")).access_token, "t2", "within 5 minutes of expiry: fetched again");
    assert.equal(seen.length, 2);

    // IMDS answering for another identity than the one asked for: the token is dropped.
    await assert.rejects(tokens.tokenFor(identity("default", "s", "STRAY"), "https://vault.azure.net"), /IMDS answered for another identity/);
    // No client id and no resource id: refused without asking IMDS, which would answer with the node's own identity.
    const before = seen.length;
    const bare: AzureIdentity = { ...identity("default", "bare", ""), spec: { type: 0 } };
    await assert.rejects(tokens.tokenFor(bare, "https://vault.azure.net"), /names neither a clientID nor a resourceID/);
    assert.equal(seen.length, before, "IMDS was not asked");
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
