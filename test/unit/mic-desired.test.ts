import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { desired } from "../../src/aadpodidentity/desired.js";
import { invalidIdentityReason } from "../../src/aadpodidentity/spec.js";
import { ASSIGNED_IDENTITY_FINALIZER, BEHAVIOR_ANNOTATION, type AzureIdentity, type AzureIdentityBinding } from "../../src/aadpodidentity/types.js";

const SUB = "00000000-0000-0000-0000-000000000001";
const vmss = (name: string, i: number) => `azure:///subscriptions/${SUB}/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/${name}/virtualMachines/${i}`;
const NODES: V1Node[] = [
  { metadata: { name: "n0" }, spec: { providerID: vmss("pool1", 0) } },
  { metadata: { name: "n1" }, spec: { providerID: vmss("pool1", 1) } },
  { metadata: { name: "n2" }, spec: { providerID: vmss("pool2", 0) } },
  { metadata: { name: "vm" }, spec: { providerID: `azure:///subscriptions/${SUB}/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachines/standalone` } },
  { metadata: { name: "kind" }, spec: { providerID: "kind://docker/kind/kind-control-plane" } },
];
const uami = (name: string) => `/subscriptions/${SUB}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

function identity(namespace: string, name: string, spec: Partial<AzureIdentity["spec"]> = {}, annotations?: Record<string, string>): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name, namespace, resourceVersion: "7", annotations, managedFields: [{ manager: "x" }] },
    spec: { type: 0, resourceID: uami(name), clientID: `client-${name}`, ...spec },
  };
}
function binding(namespace: string, name: string, azureIdentity: string, selector: string): AzureIdentityBinding {
  return { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name, namespace, resourceVersion: "8" }, spec: { azureIdentity, selector } };
}
function pod(namespace: string, name: string, label: string | undefined, nodeName: string | undefined, extra: Partial<V1Pod["metadata"]> = {}): V1Pod {
  return { metadata: { name, namespace, labels: label === undefined ? { app: "x" } : { aadpodidbinding: label }, ...extra }, spec: { nodeName, containers: [] } };
}
const names = (s: ReturnType<typeof desired>) => s.assigned.map((a) => `${a.metadata.namespace}/${a.metadata.name}`);
const needs = (s: ReturnType<typeof desired>) =>
  Object.fromEntries([...s.targets.values()].map((t) => [t.target.name, [...t.identities.values()].map((i) => i.resourceId).sort()]));

describe("MIC desired state", () => {
  it("builds upstream's AzureAssignedIdentity for a labelled, scheduled pod, and the scale set's need", () => {
    const id = identity("apps", "reader");
    const b = binding("apps", "reader-binding", "reader", "web");
    const s = desired([pod("apps", "web-1", "web", "n0"), pod("apps", "other", undefined, "n0")], [id], [b], NODES, { forceNamespaced: false });
    assert.deepEqual(names(s), ["default/web-1-apps-reader"]);
    const aai = s.assigned[0];
    assert.deepEqual(aai.metadata.labels, { nodename: "n0" });
    assert.deepEqual(aai.metadata.finalizers, [ASSIGNED_IDENTITY_FINALIZER]);
    assert.deepEqual(aai.status, { status: "Created", availableReplicas: 1 });
    assert.equal(aai.spec.pod, "web-1");
    assert.equal(aai.spec.podNamespace, "apps");
    assert.equal(aai.spec.nodename, "n0");
    assert.equal(aai.spec.azureIdentityRef.metadata.resourceVersion, "7");
    assert.equal(aai.spec.azureIdentityRef.kind, "AzureIdentity");
    assert.equal(aai.spec.azureIdentityRef.metadata.managedFields, undefined);
    assert.deepEqual(aai.spec.azureIdentityRef.spec, id.spec);
    assert.deepEqual(aai.spec.azureBindingRef.spec, b.spec);
    assert.deepEqual(needs(s), { pool1: [uami("reader")] });
    assert.deepEqual(s.targets.get([...s.targets.keys()][0])!.identities.get(uami("reader").toLowerCase())!.assignedIdentities, ["web-1-apps-reader"]);
    assert.equal(s.nodeTargets.get("vm")?.kind, "vm");
    assert.equal(s.nodeTargets.get("vm")?.name, "standalone");
    assert.equal(s.nodeTargets.has("kind"), false);
  });

  it("selectors match exactly, across namespaces unless namespaced; the identity is looked up in the binding's namespace", () => {
    const ids = [identity("team-a", "shared"), identity("team-b", "other")];
    const bs = [binding("team-a", "b1", "shared", "web"), binding("team-b", "b2", "shared", "web")];
    const pods = [pod("team-c", "p", "web", "n1"), pod("team-c", "q", "Web", "n1")];
    const s = desired(pods, ids, bs, NODES, { forceNamespaced: false });
    assert.deepEqual(names(s), ["default/p-team-c-shared"]);
    assert.ok(s.skipped.some((k) => k.kind === "AzureIdentityBinding" && k.name === "b2" && /team-b\/shared not found/.test(k.reason)));
    assert.ok(s.skipped.some((k) => k.name === "q" && /no AzureIdentityBinding matches selector Web/.test(k.reason)));

    const forced = desired(pods, ids, bs, NODES, { forceNamespaced: true });
    assert.deepEqual(names(forced), []);
    const same = desired([pod("team-a", "p", "web", "n1")], ids, bs, NODES, { forceNamespaced: true });
    assert.deepEqual(names(same), ["team-a/p-team-a-shared"], "namespaced mode puts it in the identity's namespace");
  });

  it("the Behavior annotation makes one identity namespaced while the others match cluster-wide", () => {
    const ids = [identity("a", "private", {}, { [BEHAVIOR_ANNOTATION]: "namespaced" }), identity("a", "public")];
    const bs = [binding("a", "b-private", "private", "web"), binding("a", "b-public", "public", "web")];
    const s = desired([pod("a", "in", "web", "n0"), pod("z", "out", "web", "n0")], ids, bs, NODES, { forceNamespaced: false });
    assert.deepEqual(names(s), ["a/in-a-private", "default/in-a-public", "default/out-z-public"]);
  });

  it("skips pods without a node, terminating pods and pods on unknown nodes", () => {
    const ids = [identity("a", "i")];
    const bs = [binding("a", "b", "i", "web")];
    const pods = [pod("a", "pending", "web", undefined), pod("a", "going", "web", "n0", { deletionTimestamp: new Date() }), pod("a", "lost", "web", "gone"), pod("a", "kind", "web", "kind"), pod("a", "ok", "web", "n2")];
    const s = desired(pods, ids, bs, NODES, { forceNamespaced: false });
    assert.deepEqual(names(s), ["default/ok-a-i"]);
    const reasons = Object.fromEntries(s.skipped.filter((k) => k.kind === "Pod").map((k) => [k.name, k.reason]));
    assert.match(reasons.pending, /no assigned node/);
    assert.match(reasons.going, /terminating/);
    assert.match(reasons.lost, /not in the cluster/);
    assert.match(reasons.kind, /no Azure scale set or VM/);
    assert.deepEqual(needs(s), { pool2: [uami("i")] });
  });

  it("an invalid identity is skipped with upstream's reason and never blocks the valid ones", () => {
    const ids = [
      identity("a", "good"),
      identity("a", "bad-id", { resourceID: "subscriptions/x/resourcegroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z" }),
      identity("a", "bad-type", { type: 3 }),
      identity("a", "sp", { type: 1, resourceID: undefined }),
    ];
    const bs = ids.map((i) => binding("a", `b-${i.metadata.name}`, i.metadata.name, "web"));
    const s = desired([pod("a", "p", "web", "n0")], ids, bs, NODES, { forceNamespaced: false });
    assert.deepEqual(names(s), ["default/p-a-good", "default/p-a-sp"]);
    assert.deepEqual(needs(s), { pool1: [uami("good")] }, "a service principal identity needs nothing on the scale set");
    assert.match(s.skipped.find((k) => k.name === "bad-id")!.reason, /^invalid resource id: "subscriptions\/x/);
    assert.match(s.skipped.find((k) => k.name === "bad-type")!.reason, /unsupported identity type 3/);
    assert.equal(invalidIdentityReason(identity("a", "legacy", { resourceID: undefined, ResourceID: uami("legacy") } as never)), undefined, "v1.5 spellings are read");
  });

  it("pods on two nodes of one scale set need the identity once; another scale set needs its own", () => {
    const ids = [identity("a", "i"), identity("a", "j")];
    const bs = [binding("a", "bi", "i", "web"), binding("a", "bj", "j", "api")];
    const s = desired([pod("a", "w0", "web", "n0"), pod("a", "w1", "web", "n1"), pod("a", "api", "api", "n2")], ids, bs, NODES, { forceNamespaced: false });
    assert.deepEqual(needs(s), { pool1: [uami("i")], pool2: [uami("j")] });
    const pool1 = [...s.targets.values()].find((t) => t.target.name === "pool1")!;
    assert.deepEqual(pool1.identities.get(uami("i").toLowerCase())!.assignedIdentities, ["w0-a-i", "w1-a-i"]);
  });

  it("same-named identities in two namespaces: the first namespace wins, with a warning", () => {
    const ids = [identity("b", "dup"), identity("a", "dup")];
    const bs = [binding("b", "x", "dup", "web"), binding("a", "x", "dup", "web")];
    const s = desired([pod("c", "p", "web", "n0")], ids, bs, NODES, { forceNamespaced: false });
    assert.deepEqual(names(s), ["default/p-c-dup"]);
    assert.equal(s.assigned[0].spec.azureIdentityRef.metadata.namespace, "a");
    assert.ok(s.skipped.some((k) => /exists in both a and b namespace/.test(k.reason)));
  });
});
