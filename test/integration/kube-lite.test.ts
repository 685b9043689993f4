import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { LiteKubeClient, type LiteKubeError } from "../../src/kube/lite/client.js";
import { endpointFromKubeconfig } from "../../src/kube/lite/endpoint.js";
import { endpointOf } from "../../src/kube/lite/from-kubeconfig.js";
import { watchCache } from "../../src/kube/watch-cache.js";
import { startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { eventually } from "../helpers/eventually.js";

/** The node agent's lean Kubernetes client against the sandbox API server, checked with @kubernetes/client-node. */
let f: KubeFixture;
let core: CoreV1Api;

before(async () => {
  f = await startKubeFixture();
  core = f.kc.makeApiClient(CoreV1Api);
});
after(async () => f?.stop());

test("a kubeconfig file gives the same endpoint as client-node's loaded config; GET, 404 and Status errors", async () => {
  const fromFile = endpointFromKubeconfig(f.api.kubeconfigPath);
  const fromKc = endpointOf(f.kc);
  assert.equal(fromFile.server, fromKc.server);
  assert.equal(fromFile.ca, fromKc.ca);
  assert.equal(fromFile.token?.(), fromKc.token?.());
  const client = new LiteKubeClient(fromFile);
  try {
    const ns = await client.get<{ metadata: { name: string } }>("/api/v1/namespaces/default");
    assert.equal(ns?.metadata.name, "default");
    assert.equal(await client.get("/api/v1/namespaces/default/pods/none"), undefined);
    const anonymous = new LiteKubeClient({ ...fromFile, token: () => "not-a-token" });
    await assert.rejects(anonymous.get("/api/v1/pods"), (err: LiteKubeError) => err.code === 401 && err.reason === "Unauthorized");
    anonymous.close();
  } finally {
    client.close();
  }
});

test("the watch cache lists, follows adds, updates and deletes within its selector, and lists again after its watch is cut", async () => {
  const ns = uniqueName("lite");
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const cm = (name: string, labels: Record<string, string>, value = "1"): V1ConfigMap => ({ metadata: { name, namespace: ns, labels }, data: { value } });
  await core.createNamespacedConfigMap({ namespace: ns, body: cm("before", { team: "a" }) });
  await core.createNamespacedConfigMap({ namespace: ns, body: cm("other", { team: "b" }) });
  const client = new LiteKubeClient(endpointOf(f.kc));
  const events: string[] = [];
  const cache = watchCache<V1ConfigMap>(client, `/api/v1/namespaces/${ns}/configmaps`, { labelSelector: "team=a", onEvent: (e, o) => events.push(`${e} ${o.metadata?.name}`) });
  try {
    await cache.start();
    assert.equal(cache.synced(), true);
    assert.deepEqual(cache.list().map((c) => c.metadata?.name), ["before"]);
    let changes = 0;
    cache.onChange(() => changes++);
    await core.createNamespacedConfigMap({ namespace: ns, body: cm("added", { team: "a" }) });
    await core.replaceNamespacedConfigMap({ name: "before", namespace: ns, body: cm("before", { team: "a" }, "2") });
    await core.deleteNamespacedConfigMap({ name: "added", namespace: ns });
    await core.createNamespacedConfigMap({ namespace: ns, body: cm("not-mine", { team: "b" }) });
    await eventually("the cache to follow the changes", () => cache.get("before", ns)?.data?.value === "2" && !cache.get("added", ns));
    assert.deepEqual(events, ["add before", "add added", "update before", "delete added"]);
    assert.ok(changes >= 3);
    assert.equal(cache.get("not-mine", ns), undefined, "outside the label selector");

    // The API server goes away and comes back with its watch history gone: the cache lists again and carries on.
    const errors: string[] = [];
    const restarted = watchCache<V1ConfigMap>(client, `/api/v1/namespaces/${ns}/configmaps`, { labelSelector: "team=a", maxBackoffMs: 200, onError: (e) => errors.push((e as Error).message) });
    await restarted.start();
    await f.restart();
    await f.kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: ns, body: cm("after-restart", { team: "a" }) });
    await eventually("the cache to see what was made after the restart", () => restarted.get("after-restart", ns) !== undefined);
    assert.ok(errors.length > 0, "the cut watch was reported");
    await restarted.stop();
  } finally {
    await cache.stop();
    client.close();
  }
});

test("in a pod: client-node's in-cluster user (a tokenFile auth provider) gives the endpoint and its token; exec credentials are refused with the reason", async () => {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "podid-sa-"));
  try {
    const tokenPath = join(dir, "token");
    writeFileSync(tokenPath, "first\n");
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: "c", server: "https://10.0.0.1:443", skipTLSVerify: false }, { name: "inClusterUser", authProvider: { name: "tokenFile", config: { tokenFile: tokenPath } } });
    const endpoint = endpointOf(kc);
    assert.equal(endpoint.server, "https://10.0.0.1:443");
    assert.equal(endpoint.token?.(), "first");
    const exec = new KubeConfig();
    exec.loadFromClusterAndUser({ name: "c", server: "https://10.0.0.1:443", skipTLSVerify: false }, { name: "u", exec: { command: "kubelogin" } });
    assert.throws(() => endpointOf(exec), /exec and auth-provider credentials are not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
