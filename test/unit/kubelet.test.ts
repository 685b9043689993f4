import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { containerEnv, expand, EnvError } from "../../src/sandbox/kubelet/env.js";
import { launchOf, repositoryOf } from "../../src/sandbox/kubelet/images.js";
import { mountTable, rewritePaths } from "../../src/sandbox/kubelet/pod-files.js";
import { templateHash } from "../../src/sandbox/kube/controllers/pods.js";
import { podStatus, type ContainerView } from "../../src/sandbox/kubelet/pod-status.js";

const pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "mic-1", namespace: "kube-system", uid: "u-1", labels: { app: "mic" }, annotations: { note: "x" } },
  spec: { nodeName: "node-0", serviceAccountName: "podid-mic" },
};
const facts = { pod, podIP: "127.40.1.2", hostIP: "127.40.0.4" };
const data = (kind: "ConfigMap" | "Secret", _ns: string, name: string) => (name === "cfg" ? { level: kind === "Secret" ? "secret" : "info" } : undefined);

test("container env: fieldRefs, configMap/secret keys, envFrom with prefix, and $(VAR) expansion in order", () => {
  const env = containerEnv(
    {
      envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CM_" }],
      env: [
        { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
        { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: "SECRET", valueFrom: { secretKeyRef: { name: "cfg", key: "level" } } },
        { name: "ADDR", value: "$(HOST_IP):2579 $(UNKNOWN) $$(HOST_IP)" },
      ],
    },
    facts,
    data,
  );
  assert.deepEqual(env, { CM_level: "info", NODE_NAME: "node-0", POD_IP: "127.40.1.2", HOST_IP: "127.40.0.4", NS: "kube-system", APP: "mic", SECRET: "secret", ADDR: "127.40.0.4:2579 $(UNKNOWN) $(HOST_IP)" });
  assert.throws(() => containerEnv({ env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "missing", key: "k" } } }] }, facts, data), EnvError);
  assert.deepEqual(containerEnv({ env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "missing", key: "k", optional: true } } }] }, facts, data), {});
  assert.equal(expand("--node=$(NODE_NAME)", { NODE_NAME: "n" }), "--node=n");
});

test("images: podid's run as the CLI (any registry), command overrides the entrypoint, others cannot run", () => {
  assert.equal(repositoryOf("myacr.azurecr.io:5000/podid/podid-runtime:1.2@sha256:abc"), "myacr.azurecr.io:5000/podid/podid-runtime");
  assert.deepEqual(launchOf("ghcr.io/podid/podid-runtime:0.1.0", undefined, ["runtime", "mic"]), { ok: true, cliArgs: ["runtime", "mic"] });
  assert.deepEqual(launchOf("myacr.azurecr.io/podid-demo", undefined, ["--once"]), { ok: true, cliArgs: ["runtime", "demo", "--once"] });
  assert.deepEqual(launchOf("ghcr.io/podid/podid-demo:1", ["podid", "runtime"], ["nmi"]), { ok: true, cliArgs: ["runtime", "nmi"] });
  const nginx = launchOf("nginx:1.27", undefined, undefined);
  assert.equal(nginx.ok, false);
  assert.equal(!nginx.ok && nginx.reason, "ImageNotRunnable");
  assert.equal((launchOf("ghcr.io/podid/podid-runtime", ["sh", "-c", "x"], undefined) as { reason: string }).reason, "RunContainerError");
});

test("mount paths inside args become the host paths behind them; the longest mount wins", () => {
  const table = mountTable(
    [
      { name: "cloud", mountPath: "/etc/kubernetes/azure.json" },
      { name: "etc", mountPath: "/etc/kubernetes/" },
    ],
    new Map([
      ["cloud", "/sb/nodes/n0/etc/kubernetes/azure.json"],
      ["etc", "/sb/nodes/n0/etc/kubernetes"],
    ]),
    "/sb/pods/p/serviceaccount",
  );
  assert.equal(rewritePaths("--cloudconfig=/etc/kubernetes/azure.json", table), "--cloudconfig=/sb/nodes/n0/etc/kubernetes/azure.json");
  assert.equal(rewritePaths("/etc/kubernetes/other.json", table), "/sb/nodes/n0/etc/kubernetes/other.json");
  assert.equal(rewritePaths("/var/run/secrets/kubernetes.io/serviceaccount/token", table), "/sb/pods/p/serviceaccount/token");
  assert.equal(rewritePaths("/etc/kubernetes-not-mounted", table), "/etc/kubernetes-not-mounted");
});

test("template hashes are stable across key order and change with the template", () => {
  const a = templateHash({ metadata: { labels: { a: "1", b: "2" } }, spec: { containers: [{ name: "c", image: "i" }] } });
  const b = templateHash({ spec: { containers: [{ image: "i", name: "c" }] }, metadata: { labels: { b: "2", a: "1" } } });
  assert.equal(a, b);
  assert.match(a, /^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  assert.notEqual(a, templateHash({ metadata: { labels: { a: "1", b: "2" } }, spec: { containers: [{ name: "c", image: "j" }] } }));
});

describe("pod status, a function of what the kubelet knows of the containers", () => {
  const spec = (name: string) => ({ name, image: "podid:dev" });
  const view = (name: string, state: ContainerView["state"], more: Partial<ContainerView> = {}): ContainerView => ({
    spec: spec(name),
    restartCount: 0,
    state,
    ready: false,
    started: false,
    everStarted: false,
    finished: false,
    ...more,
  });
  const ended = (exitCode: number) => ({ terminated: { exitCode, reason: exitCode ? "Error" : "Completed", startedAt: "t0", finishedAt: "t1", containerID: "c" } });
  const running = { running: { startedAt: "t0" } };
  const base = { pod: { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [spec("app")] } }, hostIP: "127.40.1.1", podIP: "127.40.1.2", startTime: "t0" };
  const condition = (status: Record<string, unknown>, type: string) => (status.conditions as { type: string; status: string; reason?: string; message?: string; lastTransitionTime: string }[]).find((c) => c.type === type)!;

  it("is Pending with the init containers named while they have not completed", () => {
    const status = podStatus({ ...base, inits: [view("init", { waiting: { reason: "PodInitializing" } })], containers: [view("app", { waiting: { reason: "PodInitializing" } })], now: "t1" });
    assert.equal(status.phase, "Pending");
    assert.deepEqual(condition(status, "Initialized"), { type: "Initialized", status: "False", lastProbeTime: null, lastTransitionTime: "t1", reason: "ContainersNotInitialized", message: "containers with incomplete status: [init]" });
    assert.equal((status.initContainerStatuses as unknown[]).length, 1);
  });

  it("is Running once every container started, Succeeded or Failed once all have ended for good, Failed when an init container did", () => {
    assert.equal(podStatus({ ...base, inits: [], containers: [view("app", running, { everStarted: true, started: true, ready: true })], now: "t1" }).phase, "Running");
    assert.equal(podStatus({ ...base, inits: [], containers: [view("app", ended(0), { everStarted: true, finished: true })], now: "t1" }).phase, "Succeeded");
    assert.equal(podStatus({ ...base, inits: [], containers: [view("app", ended(1), { everStarted: true, finished: true })], now: "t1" }).phase, "Failed");
    const initFailed = podStatus({ ...base, inits: [view("init", ended(2), { everStarted: true, finished: true })], containers: [view("app", { waiting: { reason: "PodInitializing" } })], now: "t1" });
    assert.equal(initFailed.phase, "Failed");
  });

  it("keeps a condition's lastTransitionTime while its status stays, and moves it when the status changes", () => {
    const unready = podStatus({ ...base, inits: [], containers: [view("app", running, { everStarted: true, started: true })], now: "t1" });
    assert.deepEqual(condition(unready, "Ready"), { type: "Ready", status: "False", lastProbeTime: null, lastTransitionTime: "t1", reason: "ContainersNotReady", message: "containers with unready status: [app]" });
    const still = podStatus({ ...base, inits: [], containers: [view("app", running, { everStarted: true, started: true })], previous: unready.conditions as [], now: "t2" });
    assert.equal(condition(still, "Ready").lastTransitionTime, "t1");
    const ready = podStatus({ ...base, inits: [], containers: [view("app", running, { everStarted: true, started: true, ready: true })], previous: still.conditions as [], now: "t3" });
    assert.deepEqual(condition(ready, "Ready"), { type: "Ready", status: "True", lastProbeTime: null, lastTransitionTime: "t3" });
    assert.equal(condition(ready, "PodScheduled").lastTransitionTime, "t1");
  });
});
