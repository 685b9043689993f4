import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BatchV1Api, CoreV1Api } from "@kubernetes/client-node";
import { runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { eventually } from "../helpers/eventually.js";

/**
 * StatefulSets, Jobs and CronJobs on the sandbox's nodes as a user meets them with kubectl: the controllers make
 * the pods, the kubelet runs them (podid's image: its proxy as a long-running server, `--version` as a task that
 * ends), and a CronJob's tick comes when the sandbox clock passes it.
 */

let sb: SandboxFixture;
let core: CoreV1Api;
let batch: BatchV1Api;
const kubectl = (args: string) => runShell(`kubectl ${args}`, { env: sb.env });
const WAIT = { timeoutMs: 60_000, intervalMs: 250 };
const IMAGE = "ghcr.io/podid/podid-runtime:0.1.0";

before(async () => {
  sb = await startSandbox({ nodes: 2 });
  const { kc } = sandboxClients(sb);
  core = kc.makeApiClient(CoreV1Api);
  batch = kc.makeApiClient(BatchV1Api);
});
after(async () => sb?.stop());

function apply(name: string, yaml: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const path = join(sb.dir, `${name}.yaml`);
  writeFileSync(path, yaml);
  return kubectl(`apply -f ${path}`);
}

test("a StatefulSet's pods run in order, one per ordinal, and the rollout completes", async () => {
  const applied = await apply(
    "db",
    `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: proxy
          image: ${IMAGE}
          args: [runtime, proxy, --proxy-port=8000]
          env:
            - {name: AZURE_TENANT_ID, value: tenant}
            - {name: AZURE_CLIENT_ID, value: client}
            - {name: AZURE_FEDERATED_TOKEN_FILE, value: /var/run/secrets/azure/tokens/azure-identity-token}
            - {name: AZURE_AUTHORITY_HOST, value: "https://login.example.test/"}
`,
  );
  assert.equal(applied.code, 0, applied.stderr);
  const rollout = await kubectl("rollout status sts/db --timeout=60s");
  assert.equal(rollout.code, 0, rollout.stderr);
  const pods = (await core.listNamespacedPod({ namespace: "default", labelSelector: "app=db" })).items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
  assert.deepEqual(pods.map((p) => [p.metadata!.name, p.status!.phase, p.metadata!.labels!["statefulset.kubernetes.io/pod-name"]]), [["db-0", "Running", "db-0"], ["db-1", "Running", "db-1"]]);
});

test("a Job runs its pod to completion; a CronJob starts one when the sandbox clock passes its tick", async () => {
  const template = `
      spec:
        restartPolicy: Never
        containers: [{name: run, image: ${IMAGE}, args: ["--version"]}]`;
  const applied = await apply(
    "batch",
    `apiVersion: batch/v1
kind: Job
metadata: {name: version, namespace: default}
spec:
  template:${template}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: yearly, namespace: default}
spec:
  schedule: "0 0 1 1 *"
  jobTemplate:
    metadata: {labels: {cron: yearly}}
    spec:
      template:${template.replace(/\n/g, "\n    ")}
`,
  );
  assert.equal(applied.code, 0, applied.stderr);
  const done = await kubectl("wait --for=condition=complete job/version --timeout=60s");
  assert.equal(done.code, 0, done.stderr);
  const [pod] = (await core.listNamespacedPod({ namespace: "default", labelSelector: "batch.kubernetes.io/job-name=version" })).items;
  assert.equal(pod.status!.phase, "Succeeded");
  assert.match((await kubectl("logs job/version")).stdout, /^\d+\.\d+\.\d+$/m, "the pod ran podid --version");

  assert.equal((await batch.listNamespacedJob({ namespace: "default", labelSelector: "cron=yearly" })).items.length, 0, "no tick yet");
  const advanced = await runPodid(["sandbox", "clock", "--advance", String(366 * 24 * 3600), "--dir", sb.dir, "-o", "json"]);
  assert.equal(advanced.code, 0, advanced.stderr);
  const [started] = await eventually("the CronJob to start a Job", async () => {
    const jobs = (await batch.listNamespacedJob({ namespace: "default", labelSelector: "cron=yearly" })).items;
    assert.equal(jobs.length, 1);
    return jobs;
  }, WAIT);
  const finished = await kubectl(`wait --for=condition=complete job/${started.metadata!.name} --timeout=60s`);
  assert.equal(finished.code, 0, finished.stderr);
  await eventually("the CronJob to record the success", async () => {
    const cj = await batch.readNamespacedCronJob({ name: "yearly", namespace: "default" });
    assert.ok(cj.status?.lastSuccessfulTime && !cj.status.active?.length, JSON.stringify(cj.status));
  }, WAIT);
});
