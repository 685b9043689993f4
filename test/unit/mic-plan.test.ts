import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { desired } from "../../src/aadpodidentity/desired.js";
import type { AzureAssignedIdentity, AzureIdentity, AzureIdentityBinding } from "../../src/aadpodidentity/types.js";
import { identityPatches, MAX_IDENTITIES_PER_REQUEST, type ComputeIdentityState, type ComputeTarget } from "../../src/azure/scale-sets.js";
import { byTarget, clientIdMismatches, identityUpdates, planAssignments, planTarget, settle, unexplainedIdentities, type TargetWork } from "../../src/runtime/mic/plan.js";

// MIC's planner, without a sandbox: pure functions from what the caches and ARM hold to what a cycle writes.

const SUB = "00000000-0000-0000-0000-000000000001";
const uami = (name: string) => `/subscriptions/${SUB}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const target: ComputeTarget = {
  kind: "scaleSet",
  subscriptionId: SUB,
  resourceGroup: "mc_rg",
  name: "pool",
  id: `/subscriptions/${SUB}/resourcegroups/mc_rg/providers/microsoft.compute/virtualmachinescalesets/pool`,
};
const providerID = `azure:///subscriptions/${SUB}/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/0`;
const NODES = [{ metadata: { name: "n0" }, spec: { providerID } }];

function identity(name: string, clientID = `client-${name}`): AzureIdentity {
  return { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name, namespace: "apps", resourceVersion: "1" }, spec: { type: 0, resourceID: uami(name), clientID } };
}
const binding = (name: string, selector: string): AzureIdentityBinding => ({ apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name: `${name}-b`, namespace: "apps", resourceVersion: "1" }, spec: { azureIdentity: name, selector } });
const pod = (name: string, selector: string) => ({ metadata: { name, namespace: "apps", labels: { aadpodidbinding: selector } }, spec: { nodeName: "n0", containers: [] } });

/** What the scale set holds: ids (lower-cased keys) with their client ids. */
function held(entries: Record<string, string>, type = "UserAssigned"): ComputeIdentityState {
  return { type, identities: new Map(Object.entries(entries).map(([name, clientId]) => [uami(name).toLowerCase(), { resourceId: uami(name), clientId }])) };
}

/** The desired state of pods on n0 (each pod's selector names its identity), and the one target's work. */
function workOf(pods: [string, string][], identities: AzureIdentity[], current: AzureAssignedIdentity[] = []): { work: TargetWork; state: ReturnType<typeof desired> } {
  const state = desired(pods.map(([name, id]) => pod(name, id)), identities, identities.map((i) => binding(i.metadata.name, i.metadata.name)), NODES, { forceNamespaced: false });
  const { targets } = byTarget(planAssignments(current, state.assigned), state, new Map());
  return { work: targets.find((t) => t.target.id === target.id) ?? { target, needed: new Map(), toAssign: [], leaving: [], toDelete: [] }, state };
}
const NOTHING_PROTECTED = { preexisting: new Set<string>(), immutableClientIds: new Set<string>() };
const assigned = (aai: AzureAssignedIdentity): AzureAssignedIdentity => ({ ...aai, status: { status: "Assigned", availableReplicas: 1 } });

describe("MIC's planner", () => {
  it("splits identity changes at ARM's 150 per request: removals first, each body's type following what remains", () => {
    assert.equal(MAX_IDENTITIES_PER_REQUEST, 150);
    const adds = Array.from({ length: 160 }, (_, i) => uami(`add-${i}`));
    const bodies = identityPatches(held({ old: "c-old" }), { add: adds, remove: [uami("old")] });
    assert.deepEqual(bodies.map((b) => Object.keys(b.userAssignedIdentities ?? {}).length), [150, 11]);
    assert.equal(Object.values(bodies[0].userAssignedIdentities!)[0], null, "the removal goes in the first request");
    assert.ok(bodies.every((b) => b.type === "UserAssigned"));
    assert.equal(new Set(bodies.flatMap((b) => Object.keys(b.userAssignedIdentities!))).size, 161, "every change once, ids lower-cased");

    assert.deepEqual(identityPatches(held({ a: "c" }), { add: [uami("A")], remove: [uami("gone")] }), [], "nothing to change: no request");
    assert.deepEqual(identityPatches(held({ a: "c" }, "SystemAssigned, UserAssigned"), { add: [], remove: [uami("a")] }), [{ type: "SystemAssigned", userAssignedIdentities: { [uami("a").toLowerCase()]: null } }]);
    assert.equal(identityPatches(held({ a: "c" }), { add: [], remove: [uami("a")] })[0].type, "None", "the last user-assigned identity leaves: None");
  });

  it("plans the Kubernetes side: new ones created, changed ones replaced keeping their metadata, unchanged Created ones assigned, the rest leaving", () => {
    const { state } = workOf([["p1", "a"], ["p2", "b"]], [identity("a"), identity("b")]);
    const [p1a, p2b] = state.assigned;
    const stale = { ...p1a, metadata: { ...p1a.metadata, resourceVersion: "9", uid: "u1" }, spec: { ...p1a.spec, nodename: "elsewhere" } };
    const gone = { ...p2b, metadata: { ...p2b.metadata, name: "old-apps-b" } };
    const plan = planAssignments([stale, gone], state.assigned);
    assert.deepEqual(plan.create.map((a) => a.metadata.name), [p2b.metadata.name]);
    assert.equal(plan.replace.length, 1);
    assert.equal(plan.replace[0].after.metadata.uid, "u1", "the replacement keeps the object's identity and resourceVersion");
    assert.equal(plan.replace[0].after.spec.nodename, "n0");
    assert.equal(plan.replace[0].after.status?.status, "Created");
    assert.deepEqual(plan.leaving, [gone]);
    assert.deepEqual(planAssignments([p1a], [p1a]).unassigned, [p1a], "not Assigned yet: assigned again");
    assert.deepEqual(planAssignments([assigned(p1a)], [p1a]), { create: [], replace: [], unassigned: [], leaving: [] }, "in place: nothing to do");
  });

  it("attaches what is missing, detaches what no pod needs, and keeps what another pod still needs", () => {
    const { work, state } = workOf([["p1", "a"], ["p2", "b"]], [identity("a"), identity("b")], []);
    const plan = planTarget(work, held({ a: "client-a" }), NOTHING_PROTECTED, new Set());
    assert.deepEqual(plan, { add: [uami("b")], remove: [], reattach: [] });

    // p1 goes away: a is detached; b stays for p2.
    const current = state.assigned.map(assigned);
    const after = workOf([["p2", "b"]], [identity("a"), identity("b")], current).work;
    assert.deepEqual(after.toDelete.map((a) => a.spec.pod), ["p1"]);
    assert.deepEqual(planTarget(after, held({ a: "client-a", b: "client-b" }), NOTHING_PROTECTED, new Set()), { add: [], remove: [uami("a")], reattach: [] });
    // p3 also uses a: it stays.
    const shared = workOf([["p2", "b"], ["p3", "a"]], [identity("a"), identity("b")], current).work;
    assert.deepEqual(planTarget(shared, held({ a: "client-a", b: "client-b" }), NOTHING_PROTECTED, new Set()).remove, []);
  });

  it("re-attaches an identity deleted and re-created under the same name: detach the stale entry, then attach it anew", () => {
    const { work } = workOf([["p1", "a"]], [identity("a", "client-new")]);
    const onNode = held({ a: "client-old" });
    assert.deepEqual(clientIdMismatches(work, onNode).map((m) => [m.need.clientId, m.attachedClientId]), [["client-new", "client-old"]], "asked of ARM before planning");
    const plan = planTarget(work, onNode, NOTHING_PROTECTED, new Set([uami("a").toLowerCase()]));
    assert.deepEqual(plan, { add: [], remove: [], reattach: [uami("a")] });
    assert.deepEqual(identityUpdates(plan), [{ add: [], remove: [uami("a")] }, { add: [uami("a")], remove: [] }]);
    assert.deepEqual(planTarget(work, onNode, NOTHING_PROTECTED, new Set()), { add: [], remove: [], reattach: [] }, "ARM says the entry is current: left alone");
    assert.deepEqual(identityUpdates({ add: [uami("x")], remove: [uami("y")], reattach: [] }), [{ add: [uami("x")], remove: [uami("y")] }], "otherwise one update");
  });

  it("never detaches an immutable identity (by client id) or one that was there before MIC", () => {
    const { state } = workOf([["p1", "kubelet"], ["p2", "pinned"]], [identity("kubelet"), identity("pinned", "PINNED-ID")]);
    const leaving = workOf([], [identity("kubelet"), identity("pinned", "PINNED-ID")], state.assigned.map(assigned)).work;
    const onNode = held({ kubelet: "client-kubelet", pinned: "pinned-id" });
    assert.deepEqual(planTarget(leaving, onNode, NOTHING_PROTECTED, new Set()).remove.sort(), [uami("kubelet"), uami("pinned")]);
    const protect = { preexisting: new Set([uami("kubelet").toLowerCase()]), immutableClientIds: new Set(["pinned-id"]) };
    assert.deepEqual(planTarget(leaving, onNode, protect, new Set()).remove, []);
  });

  it("records as there before MIC what no AzureAssignedIdentity explains", () => {
    const { state } = workOf([["p1", "a"]], [identity("a")]);
    assert.deepEqual(unexplainedIdentities(held({ a: "client-a", kubelet: "k" }), state.assigned), [uami("kubelet").toLowerCase()]);
    assert.deepEqual(unexplainedIdentities(held({ a: "client-a", kubelet: "k" }), []).sort(), [uami("a").toLowerCase(), uami("kubelet").toLowerCase()].sort(), "nothing assigned: all of it pre-exists");
  });

  it("settles statuses on what the scale set holds: one refused identity holds none of the others back", () => {
    const { work } = workOf([["p1", "a"], ["p2", "ghost"]], [identity("a"), identity("ghost")]);
    const plan = planTarget(work, held({}), NOTHING_PROTECTED, new Set());
    const refused = { failure: "identity-refused" as const, message: "Resource was not found" };
    const s = settle(work, plan, held({ a: "client-a" }), new Map([[uami("ghost").toLowerCase(), refused]]));
    assert.deepEqual(s.assigned.map((a) => a.spec.pod), ["p1"]);
    assert.deepEqual(s.notAssigned.map(({ aai, why }) => [aai.spec.pod, why]), [["p2", refused]]);
  });
});
