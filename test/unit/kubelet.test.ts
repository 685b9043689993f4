import { test } from "node:test";
import assert from "node:assert/strict";
import { containerEnv, expand, EnvError } from "../../src/sandbox/kubelet/env.js";
import { launchOf, repositoryOf } from "../../src/sandbox/kubelet/images.js";
import { mountTable, rewritePaths } from "../../src/sandbox/kubelet/pod-files.js";
import { templateHash } from "../../src/sandbox/kubelet/controllers.js";

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
