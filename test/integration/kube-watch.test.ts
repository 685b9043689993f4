import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, makeInformer, Watch, type V1ConfigMap } from "@kubernetes/client-node";
import { kubeRequest, startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { eventually } from "../helpers/eventually.js";

let f: KubeFixture;
let core: CoreV1Api;

before(async () => {
  f = await startKubeFixture({ bookmarkIntervalMs: 100 });
  core = f.kc.makeApiClient(CoreV1Api);
});

after(async () => f.stop());

async function namespace(): Promise<string> {
  const name = uniqueName("watch");
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Resolves once `predicate` holds, polling the collected events. */
describe("sandbox kube: watches", () => {
  it("a Watch sees ADDED, MODIFIED and DELETED in order, with bookmarks when allowed", async () => {
    const ns = await namespace();
    const events: string[] = [];
    let bookmarks = 0;
    const start = await core.listNamespacedConfigMap({ namespace: ns });
    const watch = new Watch(f.kc);
    const req = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: start.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type, obj: V1ConfigMap) => {
        if (type === "BOOKMARK") bookmarks++;
        else events.push(`${type} ${obj.metadata?.name} ${obj.data?.v ?? ""}`.trim());
      },
      () => {},
    );
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "a" }, data: { v: "1" } } });
    const a = await core.readNamespacedConfigMap({ name: "a", namespace: ns });
    await core.replaceNamespacedConfigMap({ name: "a", namespace: ns, body: { ...a, data: { v: "2" } } });
    await core.deleteNamespacedConfigMap({ name: "a", namespace: ns });
    await eventually("three events and a bookmark", () => events.length >= 3 && bookmarks > 0);
    req.abort();
    assert.deepEqual(events, ["ADDED a 1", "MODIFIED a 2", "DELETED a 2"]);
  });

  it("a watch from a compacted resourceVersion gets an ERROR event with 410 Expired", async () => {
    const ns = await namespace();
    const old = (await core.listNamespacedConfigMap({ namespace: ns })).metadata?.resourceVersion;
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "x" } } });
    f.api.store.compact();
    const seen: { type: string; obj: { code?: number; reason?: string; message?: string } }[] = [];
    let done = false;
    await new Watch(f.kc).watch(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: old }, (type, obj) => seen.push({ type, obj }), () => (done = true));
    await eventually("the watch to end", () => done);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].type, "ERROR");
    assert.equal(seen[0].obj.code, 410);
    assert.equal(seen[0].obj.reason, "Expired");
    assert.match(seen[0].obj.message ?? "", /^too old resource version: \d+ \(\d+\)$/);
  });

  it("serves the legacy /watch/ path, filtered watches and timeoutSeconds", async () => {
    const ns = await namespace();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "one", labels: { pick: "yes" } } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "two" } } });
    const r = await kubeRequest(f, "GET", `/api/v1/watch/namespaces/${ns}/configmaps?labelSelector=pick%3Dyes&timeoutSeconds=1`);
    assert.equal(r.status, 200);
    const lines = r.text.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => `${l.type} ${l.object.metadata.name}`), ["ADDED one"]);
  });

  it("a filtered watch sees an object leave as DELETED and enter as ADDED", async () => {
    const ns = await namespace();
    const rv = (await core.listNamespacedConfigMap({ namespace: ns })).metadata?.resourceVersion;
    const events: string[] = [];
    const req = await new Watch(f.kc).watch(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: rv, labelSelector: "on=yes" }, (type, obj: V1ConfigMap) => events.push(`${type} ${obj.metadata?.name}`), () => {});
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "m", labels: { on: "no" } } } });
    const m = await core.readNamespacedConfigMap({ name: "m", namespace: ns });
    const on = await core.replaceNamespacedConfigMap({ name: "m", namespace: ns, body: { ...m, metadata: { ...m.metadata, labels: { on: "yes" } } } });
    await core.replaceNamespacedConfigMap({ name: "m", namespace: ns, body: { ...on, metadata: { ...on.metadata, labels: { on: "no" } } } });
    await eventually("two events", () => events.length >= 2);
    req.abort();
    assert.deepEqual(events, ["ADDED m", "DELETED m"]);
  });
});

describe("sandbox kube: informers", () => {
  it("makeInformer sees add/update/delete in order and relists after 410", async () => {
    const ns = await namespace();
    const events: string[] = [];
    const informer = makeInformer(f.kc, `/api/v1/namespaces/${ns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: ns }));
    informer.on("add", (o: V1ConfigMap) => events.push(`add ${o.metadata?.name}`));
    informer.on("update", (o: V1ConfigMap) => events.push(`update ${o.metadata?.name} ${o.data?.v}`));
    informer.on("delete", (o: V1ConfigMap) => events.push(`delete ${o.metadata?.name}`));
    const errors: unknown[] = [];
    // stop() aborts the watch request, which client-node reports as an AbortError; anything else is a failure.
    informer.on("error", (e: unknown) => (e as Error).name !== "AbortError" && errors.push(e));
    await informer.start();

    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "a" }, data: { v: "1" } } });
    const a = await core.readNamespacedConfigMap({ name: "a", namespace: ns });
    await core.replaceNamespacedConfigMap({ name: "a", namespace: ns, body: { ...a, data: { v: "2" } } });
    await core.deleteNamespacedConfigMap({ name: "a", namespace: ns });
    await eventually("three informer events", () => events.length >= 3);
    assert.deepEqual(events, ["add a", "update a 2", "delete a"]);

    // While the informer is away, the history it would resume from is compacted: it must relist.
    await informer.stop();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "b" }, data: { v: "1" } } });
    f.api.store.compact();
    await informer.start();
    await eventually("the relist to add b", () => events.includes("add b"));
    assert.deepEqual(informer.list().map((o) => o.metadata?.name), ["b"]);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "c" }, data: { v: "1" } } });
    await eventually("the new watch to see c", () => events.includes("add c"));
    await informer.stop();
    assert.deepEqual(errors, []);
  });
});

describe("sandbox kube: in-process store", () => {
  it("offers typed get/list/create/update/watch to the sandbox's own controllers", async () => {
    const ns = await namespace();
    const { store } = f.api;
    const seen: string[] = [];
    const stop = store.watch({ apiVersion: "v1", kind: "Pod" }, { namespace: ns, resourceVersion: store.resourceVersion }, (e) => seen.push(`${e.type} ${e.object.metadata.name}`));
    const created = store.create({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: ns }, spec: { containers: [{ name: "c", image: "podid:dev" }] } });
    const running = store.updateStatus({ ...created, status: { phase: "Running", podIP: "10.244.0.9" } });
    assert.equal(running.status && (running.status as { phase: string }).phase, "Running");
    assert.throws(() => store.update(created), (err: { status?: { reason?: string } }) => err.status?.reason === "Conflict");
    assert.equal(store.list({ apiVersion: "v1", kind: "Pod" }, { namespace: ns, fieldSelector: "status.phase=Running" }).items.length, 1);
    store.delete({ apiVersion: "v1", kind: "Pod", namespace: ns, name: "p" });
    assert.equal(store.get({ apiVersion: "v1", kind: "Pod", namespace: ns, name: "p" }), undefined);
    stop();
    assert.deepEqual(seen, ["ADDED p", "MODIFIED p", "DELETED p"]);
    assert.throws(() => f.api.tokenForServiceAccount(ns, "nobody"));
    assert.ok(f.api.tokenForServiceAccount(ns, "default"));
  });
});
