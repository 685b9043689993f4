import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api } from "@kubernetes/client-node";
import { KubeSession } from "../../src/kube/session.js";
import { createPod, deletePod, podState, readPod, waitForPodEnd } from "../../src/kube/pods.js";
import { startKubeFixture, type KubeFixture } from "../helpers/kube-api.js";

// The pod helpers `podid demo` uses, against the sandbox API server (no kubelet here: the test writes the status
// a kubelet would).
let f: KubeFixture;
let kube: KubeSession;

before(async () => {
  f = await startKubeFixture();
  kube = new KubeSession(f.kc, "default");
});
after(async () => f?.stop());

const pod = (name: string, args: string[] = []) => ({
  metadata: { name, namespace: "default", labels: { app: "t" } },
  spec: { restartPolicy: "Never", containers: [{ name: "demo", image: "ghcr.io/podid/podid-demo:0.1.0", args }] },
});

test("createPod replaces a pod left from an earlier run; deletePod waits until it is gone", async () => {
  const first = await createPod(kube, pod("p1", ["--once"]), 10_000);
  const second = await createPod(kube, pod("p1", ["--once", "--interval", "5s"]), 10_000);
  assert.notEqual(second.metadata?.uid, first.metadata?.uid);
  assert.deepEqual((await readPod(kube, "default", "p1"))?.spec?.containers[0].args, ["--once", "--interval", "5s"]);
  assert.equal(await deletePod(kube, "default", "p1", 10_000), true);
  assert.equal(await readPod(kube, "default", "p1"), undefined);
  assert.equal(await deletePod(kube, "default", "p1", 10_000), false);
});

test("waitForPodEnd reports each state, ends on Failed/Succeeded, and times out on a pod that never ends", async () => {
  await createPod(kube, pod("p2"), 10_000);
  const waited = await waitForPodEnd(kube, "default", "p2", { timeoutMs: 700 });
  assert.equal(waited.ended, false);
  assert.equal(podState(waited.pod), "Pending");

  const core = f.kc.makeApiClient(CoreV1Api);
  const states: string[] = [];
  const ending = waitForPodEnd(kube, "default", "p2", { timeoutMs: 10_000, onState: (s) => states.push(s) });
  await core.patchNamespacedPodStatus({
    name: "p2",
    namespace: "default",
    body: [{ op: "add", path: "/status", value: { phase: "Failed", containerStatuses: [{ name: "demo", image: "x", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode: 1, reason: "Error" } } }] } }],
  });
  const ended = await ending;
  assert.equal(ended.ended, true);
  assert.equal(podState(ended.pod), "Failed (exit code 1, Error)");
  assert.equal(states.at(-1), "Failed (exit code 1, Error)");
  assert.ok(states.slice(0, -1).every((s) => s === "Pending"), String(states));
});
