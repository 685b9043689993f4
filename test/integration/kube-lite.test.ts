import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { LiteKubeClient, type LiteKubeError } from "../../src/kube/lite/client.js";
import { endpointFromKubeconfig, loadEndpoint } from "../../src/kube/lite/endpoint.js";
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

test("an API server that does not answer fails a read in bounded time; a watch the server ends at once is backed off", async () => {
  const { createServer } = await import("node:http");
  let watches = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/api/v1/namespaces/silent")) return; // never answers
    if (/[?&]watch=true/.test(req.url ?? "")) {
      watches++;
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end();
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "ConfigMapList", metadata: { resourceVersion: "7" }, items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = new LiteKubeClient({ server: `http://127.0.0.1:${(server.address() as { port: number }).port}` }, { requestTimeoutMs: 300 });
  const delays: number[] = [];
  const cache = watchCache(client, "/api/v1/configmaps", { maxBackoffMs: 1600, onError: (_err, delay) => delays.push(delay) });
  try {
    await assert.rejects(client.get("/api/v1/namespaces/silent/configmaps/x"), /no answer from the API server in 300 ms/);
    await cache.start();
    await eventually("four empty watches to be backed off", () => delays.length >= 4);
    assert.deepEqual(delays.slice(0, 4), [200, 400, 800, 1600], "doubling, capped");
    assert.ok(watches <= delays.length + 1, `no hot loop: ${watches} watches for ${delays.length} back-offs`);
  } finally {
    await cache.stop();
    client.close();
    server.closeAllConnections();
    server.close();
  }
});

test("kubeconfigs as kubectl reads them: KUBECONFIG's files merged (missing ones skipped), paths relative to their file; basic auth refused with the reason", async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "podid-kc-"));
  try {
    mkdirSync(join(dir, "creds"));
    writeFileSync(join(dir, "creds", "tok"), "from-file\n");
    writeFileSync(join(dir, "creds", "ca.pem"), "CA PEM");
    const users = `users:\n- name: u\n  user:\n    tokenFile: tok\n- name: basic\n  user:\n    username: admin\n    password: secret\n`;
    writeFileSync(join(dir, "creds", "config"), `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443/\n    certificate-authority: ca.pem\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n- name: b\n  context: {cluster: k, user: basic}\n${users}`);
    writeFileSync(join(dir, "override"), `apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: first-file-wins\n`);
    const merged = loadEndpoint({}, { KUBECONFIG: [join(dir, "missing"), join(dir, "override"), join(dir, "creds", "config")].join(":") });
    assert.equal(merged.server, "https://10.0.0.1:6443");
    assert.equal(merged.ca, "CA PEM", "certificate-authority relative to the file that names it");
    assert.equal(merged.token?.(), "first-file-wins", "the first file to define a user wins");
    const single = endpointFromKubeconfig(join(dir, "creds", "config"));
    assert.equal(single.token?.(), "from-file", "tokenFile relative to the kubeconfig, not the working directory");
    assert.throws(() => endpointFromKubeconfig(join(dir, "creds", "config"), "b"), /basic authentication \(username\/password\) is not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
