import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { strategicMerge } from "../../src/sandbox/kube/patch/strategic.js";
import { jsonMergePatch } from "../../src/sandbox/kube/patch/merge.js";
import { fromFieldsV1, pathsOf, renderPath, toFieldsV1 } from "../../src/sandbox/kube/patch/fieldset.js";
import { recordUpdate, serverSideApply } from "../../src/sandbox/kube/patch/apply.js";
import { KubeError } from "../../src/sandbox/kube/errors.js";
import type { KubeObject, ListMergeRule } from "../../src/sandbox/kube/types.js";

const rules: Record<string, ListMergeRule> = {
  "spec.containers": { type: "map", keys: ["name"] },
  "spec.containers.env": { type: "map", keys: ["name"] },
  "spec.volumes": { type: "map", keys: ["name"] },
  "metadata.finalizers": { type: "set" },
};

describe("JSON merge patch", () => {
  it("merges objects, deletes on null, replaces lists", () => {
    assert.deepEqual(jsonMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: null, d: 3 }, l: [3] }), { a: { b: 1, d: 3 }, l: [3] });
  });
});

describe("strategic merge patch", () => {
  const live = {
    metadata: { finalizers: ["a"] },
    spec: {
      containers: [
        { name: "app", image: "v1", env: [{ name: "A", value: "1" }] },
        { name: "side", image: "s1" },
      ],
      volumes: [{ name: "v", emptyDir: {} }],
      tolerations: [{ key: "x" }],
    },
  };
  it("merges keyed lists item by item and replaces other lists", () => {
    const out = strategicMerge(live, { spec: { containers: [{ name: "app", env: [{ name: "B", value: "2" }] }], tolerations: [{ key: "y" }] } }, "", rules) as typeof live;
    assert.deepEqual(out.spec.containers[0], { name: "app", image: "v1", env: [{ name: "A", value: "1" }, { name: "B", value: "2" }] });
    assert.equal(out.spec.containers.length, 2);
    assert.deepEqual(out.spec.tolerations, [{ key: "y" }]);
  });
  it("honours $patch: delete, $patch: replace, $deleteFromPrimitiveList and $setElementOrder", () => {
    const out = strategicMerge(
      live,
      {
        metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] },
        spec: { "$setElementOrder/containers": [{ name: "app" }], containers: [{ name: "side", $patch: "delete" }], volumes: [{ $patch: "replace" }, { name: "w" }] },
      },
      "",
      rules,
    ) as typeof live;
    assert.deepEqual(out.metadata.finalizers, []);
    assert.deepEqual(out.spec.containers.map((c) => c.name), ["app"]);
    assert.deepEqual(out.spec.volumes, [{ name: "w" }]);
  });
  it("unions set lists", () => {
    const out = strategicMerge(live, { metadata: { finalizers: ["b", "a"] } }, "", rules) as typeof live;
    assert.deepEqual(out.metadata.finalizers, ["a", "b"]);
  });
});

describe("field sets", () => {
  it("round-trips FieldsV1 and renders paths as conflicts print them", () => {
    const paths = pathsOf({ spec: { containers: [{ name: "app", image: "i" }], replicas: 2 } }, rules);
    const fields = toFieldsV1(paths);
    assert.deepEqual(fields, { "f:spec": { "f:containers": { 'k:{"name":"app"}': { ".": {}, "f:name": {}, "f:image": {} } }, "f:replicas": {} } });
    assert.deepEqual([...fromFieldsV1(fields)].sort(), [...paths].sort());
    const image = [...paths].find((p) => p.endsWith("f:image"))!;
    assert.equal(renderPath(image), '.spec.containers[name="app"].image');
  });
});

describe("server-side apply", () => {
  const base = (data: Record<string, string>): KubeObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data });
  const ctx = (manager: string) => ({ manager, apiVersion: "v1", rules: {}, now: "2024-01-01T00:00:00Z", scope: "whole" as const, force: false });

  it("owns what it applies, removes what it stops applying, keeps others' fields", () => {
    const one = serverSideApply({ ...ctx("a"), live: undefined, applied: base({ x: "1", y: "2" }) });
    const withOther = { ...one, data: { ...(one.data as object), z: "3" } } as KubeObject;
    withOther.metadata.managedFields = recordUpdate(one, withOther, "whole", ctx("b"));
    const two = serverSideApply({ ...ctx("a"), live: withOther, applied: base({ x: "1" }) });
    assert.deepEqual(two.data, { x: "1", z: "3" });
    assert.deepEqual(two.metadata.managedFields?.map((m) => [m.manager, m.operation]), [["a", "Apply"], ["b", "Update"]]);
  });

  it("conflicts on a differing value owned by another manager, unless forced", () => {
    const one = serverSideApply({ ...ctx("a"), live: undefined, applied: base({ x: "1" }) });
    assert.throws(
      () => serverSideApply({ ...ctx("b"), live: one, applied: base({ x: "2" }) }),
      (err) => err instanceof KubeError && err.status.message === 'Apply failed with 1 conflict: conflict with "a": .data.x',
    );
    const shared = serverSideApply({ ...ctx("b"), live: one, applied: base({ x: "1" }) });
    assert.equal(shared.metadata.managedFields?.length, 2);
    const forced = serverSideApply({ ...ctx("b"), force: true, live: one, applied: base({ x: "2" }) });
    assert.deepEqual(forced.metadata.managedFields?.map((m) => m.manager), ["b"]);
  });
});

describe("server-side apply owns maps per key", () => {
  const deployment = (labels: Record<string, string>): KubeObject => ({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" }, spec: { template: { metadata: { labels } } } });
  const ctx = (manager: string) => ({ manager, apiVersion: "apps/v1", rules: {}, now: "2024-01-01T00:00:00Z", scope: "whole" as const, force: false });
  const labelsOf = (o: KubeObject) => (o.spec as { template: { metadata: { labels?: Record<string, string> } } }).template.metadata.labels;
  const fieldsOf = (o: KubeObject, manager: string) => o.metadata.managedFields?.find((m) => m.manager === manager)?.fieldsV1;

  it("an apply that drops its keys removes only the keys it alone owned: label, unlabel with {}, label again (kubectl create deployment, then podid)", () => {
    const created: KubeObject = { ...deployment({ app: "web" }), metadata: { name: "web" } };
    created.metadata.managedFields = recordUpdate(undefined, created, "whole", ctx("kubectl-create"));
    const bound = serverSideApply({ ...ctx("podid"), live: created, applied: deployment({ aadpodidbinding: "demo" }) });
    assert.deepEqual(labelsOf(bound), { app: "web", aadpodidbinding: "demo" });
    const unbound = serverSideApply({ ...ctx("podid"), live: bound, applied: deployment({}) });
    assert.deepEqual(labelsOf(unbound), { app: "web" });
    assert.deepEqual(fieldsOf(unbound, "podid"), { "f:spec": { "f:template": { "f:metadata": { "f:labels": {} } } } });
    const rebound = serverSideApply({ ...ctx("podid"), live: unbound, applied: deployment({ aadpodidbinding: "demo" }) });
    assert.deepEqual(labelsOf(rebound), { app: "web", aadpodidbinding: "demo" }, "kubectl-create's app=web survives podid's empty map");
    assert.deepEqual(fieldsOf(rebound, "podid"), { "f:spec": { "f:template": { "f:metadata": { "f:labels": { "f:aadpodidbinding": {} } } } } });
    assert.deepEqual(fieldsOf(rebound, "kubectl-create"), { "f:spec": { "f:template": { "f:metadata": { "f:labels": { "f:app": {} } } } } });
  });

  it("a key two managers own stays when one stops applying it; list elements with merge keys are owned one by one", () => {
    const one = serverSideApply({ ...ctx("a"), live: undefined, applied: deployment({ shared: "x", mine: "a" }) });
    const two = serverSideApply({ ...ctx("b"), live: one, applied: deployment({ shared: "x" }) });
    const dropped = serverSideApply({ ...ctx("a"), live: two, applied: deployment({}) });
    assert.deepEqual(labelsOf(dropped), { shared: "x" });
    const pod = (containers: { name: string; image: string }[]): KubeObject => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers } });
    const podCtx = (manager: string) => ({ ...ctx(manager), apiVersion: "v1", rules });
    const app = serverSideApply({ ...podCtx("a"), live: undefined, applied: pod([{ name: "app", image: "i" }]) });
    const side = serverSideApply({ ...podCtx("b"), live: app, applied: pod([{ name: "side", image: "s" }]) });
    const withoutApp = serverSideApply({ ...podCtx("a"), live: side, applied: pod([]) });
    assert.deepEqual((withoutApp.spec as { containers: { name: string }[] }).containers.map((c) => c.name), ["side"]);
  });
});

describe("server-side apply keeps list elements whole", () => {
  it("an element another manager still owns a field of keeps its merge key, and loses only the unowned fields", () => {
    const pod = (containers: Record<string, string>[]): KubeObject => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers } });
    const ctx = (manager: string) => ({ manager, apiVersion: "v1", rules, now: "2024-01-01T00:00:00Z", scope: "whole" as const, force: false });
    const a = serverSideApply({ ...ctx("a"), live: undefined, applied: pod([{ name: "app", image: "i", workingDir: "/w" }]) });
    const b = serverSideApply({ ...ctx("b"), live: a, applied: pod([{ name: "app", image: "i" }]) });
    const out = serverSideApply({ ...ctx("a"), live: b, applied: pod([]) });
    assert.deepEqual((out.spec as { containers: unknown[] }).containers, [{ name: "app", image: "i" }]);
  });
});
