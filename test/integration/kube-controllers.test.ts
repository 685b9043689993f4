import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { AppsV1Api, BatchV1Api, CoreV1Api, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { ControllerManager, type NodeObject } from "../../src/sandbox/kube/index.js";
import { rejected, startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";

/**
 * The sandbox's StatefulSet, Job and CronJob controllers against the API server, one reconcile at a time: no
 * kubelet runs the pods, so the test plays it (pods become Ready, succeed or fail as it says), and the clock is
 * the test's, so CronJob ticks come exactly when it moves it. Every effect is read back with the real client.
 */

let f: KubeFixture;
let core: CoreV1Api;
let apps: AppsV1Api;
let batch: BatchV1Api;
let manager: ControllerManager;
let offsetMs = 0;
const events: { name: string; reason: string; message: string }[] = [];
const NS = "default";
const YEAR_SECONDS = 366 * 24 * 3600;

before(async () => {
  f = await startKubeFixture();
  core = f.kc.makeApiClient(CoreV1Api);
  apps = f.kc.makeApiClient(AppsV1Api);
  batch = f.kc.makeApiClient(BatchV1Api);
  const store = f.api.store;
  manager = new ControllerManager({
    store,
    event: (object, _type, reason, message) => events.push({ name: object.metadata.name ?? "", reason, message }),
    nodes: () => store.list<NodeObject>({ apiVersion: "v1", kind: "Node" }).items,
    now: () => Date.now() + offsetMs,
  });
});
after(async () => f?.stop());

const podsOf = async (selector: string) => (await core.listNamespacedPod({ namespace: NS, labelSelector: selector })).items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
const names = (pods: V1Pod[]) => pods.map((p) => p.metadata!.name);

/** What the kubelet would report: the pod running and ready, or ended. */
async function setPhase(pod: V1Pod, phase: "Running" | "Succeeded" | "Failed"): Promise<void> {
  const live = await core.readNamespacedPod({ name: pod.metadata!.name!, namespace: NS });
  const ready = phase === "Running" ? "True" : "False";
  const status = { phase, conditions: [{ type: "Ready", status: ready }, { type: "ContainersReady", status: ready }] };
  await core.replaceNamespacedPodStatus({ name: live.metadata!.name!, namespace: NS, body: { ...live, status } });
}

/** What the kubelet does once a gracefully deleted pod's containers have stopped. */
const finishDeletion = (pod: V1Pod) => core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: NS, gracePeriodSeconds: 0 });

const proxy = { name: "proxy", image: "ghcr.io/podid/podid-runtime:0.1.0", args: ["runtime", "proxy"] };

describe("StatefulSets", () => {
  it("OrderedReady: pods <name>-0..N-1, each made once the ones before it are Running and Ready; scaled down from the highest ordinal, one at a time", async () => {
    const name = uniqueName("db");
    await apps.createNamespacedStatefulSet({
      namespace: NS,
      body: { metadata: { name }, spec: { replicas: 3, serviceName: name, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [proxy] } } } },
    });
    const selector = `app=${name}`;
    for (let i = 0; i < 3; i++) {
      manager.reconcile();
      manager.reconcile();
      const pods = await podsOf(selector);
      assert.deepEqual(names(pods), Array.from({ length: i + 1 }, (_, k) => `${name}-${k}`), `pod ${i} only once ${i - 1} is ready`);
      await setPhase(pods[i], "Running");
    }
    manager.reconcile();
    const pods = await podsOf(selector);
    const sts = await apps.readNamespacedStatefulSet({ name, namespace: NS });
    const revision = sts.status!.updateRevision!;
    assert.match(revision, new RegExp(`^${name}-[a-z0-9]+$`));
    pods.forEach((p, i) => {
      assert.deepEqual(p.metadata!.labels, { app: name, "statefulset.kubernetes.io/pod-name": `${name}-${i}`, "controller-revision-hash": revision, "apps.kubernetes.io/pod-index": String(i) });
      assert.equal(p.spec!.hostname, `${name}-${i}`);
      assert.equal(p.spec!.subdomain, name);
      assert.ok(p.spec!.nodeName, "scheduled");
      assert.deepEqual(p.metadata!.ownerReferences!.map((r) => [r.kind, r.name, r.controller]), [["StatefulSet", name, true]]);
    });
    assert.deepEqual([sts.status!.replicas, sts.status!.readyReplicas, sts.status!.currentRevision], [3, 3, revision]);
    assert.ok(events.some((e) => e.name === name && e.message === `create Pod ${name}-0 in StatefulSet ${name} successful`));

    await apps.replaceNamespacedStatefulSetScale({ name, namespace: NS, body: { metadata: { name, namespace: NS }, spec: { replicas: 1 } } });
    manager.reconcile();
    manager.reconcile();
    const shrinking = await podsOf(selector);
    assert.deepEqual(shrinking.map((p) => [p.metadata!.name, !!p.metadata!.deletionTimestamp]), [[`${name}-0`, false], [`${name}-1`, false], [`${name}-2`, true]], "the highest ordinal first, alone");
    await finishDeletion(shrinking[2]);
    manager.reconcile();
    const next = await podsOf(selector);
    assert.deepEqual(next.map((p) => [p.metadata!.name, !!p.metadata!.deletionTimestamp]), [[`${name}-0`, false], [`${name}-1`, true]]);
  });

  it("a pod that failed is replaced under its name; Parallel makes them all at once", async () => {
    const name = uniqueName("par");
    await apps.createNamespacedStatefulSet({
      namespace: NS,
      body: { metadata: { name }, spec: { replicas: 3, podManagementPolicy: "Parallel", selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [proxy] } } } },
    });
    manager.reconcile();
    const pods = await podsOf(`app=${name}`);
    assert.deepEqual(names(pods), [`${name}-0`, `${name}-1`, `${name}-2`]);
    await setPhase(pods[1], "Failed");
    manager.reconcile();
    manager.reconcile();
    const again = await podsOf(`app=${name}`);
    assert.deepEqual(names(again), [`${name}-0`, `${name}-1`, `${name}-2`]);
    assert.notEqual(again[1].metadata!.uid, pods[1].metadata!.uid, "a new pod of the same name");
  });
});

describe("Jobs", () => {
  const job = (name: string, spec: Partial<NonNullable<V1Job["spec"]>>, restartPolicy = "Never"): V1Job => ({
    metadata: { name },
    spec: { ...spec, template: { spec: { restartPolicy, containers: [{ name: "run", image: "ghcr.io/podid/podid-runtime:0.1.0", args: ["--version"] }] } } },
  });

  it("runs pods until completions have succeeded, parallelism at a time, then is Complete", async () => {
    const name = uniqueName("once");
    const created = await batch.createNamespacedJob({ namespace: NS, body: job(name, { completions: 2, parallelism: 1 }) });
    const uid = created.metadata!.uid!;
    assert.deepEqual(JSON.parse(JSON.stringify(created.spec!.selector)), { matchLabels: { "batch.kubernetes.io/controller-uid": uid } });
    assert.equal(created.spec!.template.metadata!.labels!["batch.kubernetes.io/job-name"], name);
    assert.equal(created.spec!.backoffLimit, 6);
    const selector = `batch.kubernetes.io/job-name=${name}`;
    manager.reconcile();
    const first = await podsOf(selector);
    assert.equal(first.length, 1);
    await setPhase(first[0], "Succeeded");
    manager.reconcile();
    const both = await podsOf(selector);
    assert.equal(both.length, 2);
    await setPhase(both.find((p) => p.metadata!.uid !== first[0].metadata!.uid)!, "Succeeded");
    manager.reconcile();
    manager.reconcile();
    const done = await batch.readNamespacedJob({ name, namespace: NS });
    assert.equal(done.status!.succeeded, 2);
    assert.deepEqual(done.status!.conditions!.map((c) => [c.type, c.status, c.reason]), [["SuccessCriteriaMet", "True", "CompletionsReached"], ["Complete", "True", "CompletionsReached"]]);
    assert.ok(done.status!.completionTime && done.status!.startTime);
    assert.equal((await podsOf(selector)).length, 2, "no pod after completion");
    assert.ok(events.some((e) => e.name === name && e.reason === "Completed"));
  });

  it("fails once more than backoffLimit pods have failed", async () => {
    const name = uniqueName("fails");
    await batch.createNamespacedJob({ namespace: NS, body: job(name, { backoffLimit: 1 }) });
    const selector = `batch.kubernetes.io/job-name=${name}`;
    for (let tries = 1; tries <= 2; tries++) {
      manager.reconcile();
      const pods = await podsOf(selector);
      assert.equal(pods.length, tries);
      await setPhase(pods.find((p) => p.status?.phase !== "Failed")!, "Failed");
    }
    manager.reconcile();
    const failed = await batch.readNamespacedJob({ name, namespace: NS });
    assert.equal(failed.status!.failed, 2);
    assert.deepEqual(failed.status!.conditions!.map((c) => [c.type, c.reason, c.message]).at(-1), ["Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"]);
    manager.reconcile();
    assert.equal((await podsOf(selector)).length, 2, "no more pods");
  });

  it("refuses pods that would restart forever, as the API server does", async () => {
    const name = uniqueName("always");
    const refused = await rejected(batch.createNamespacedJob({ namespace: NS, body: job(name, {}, "Always") }));
    assert.equal(refused.code, 422);
    assert.equal(refused.message, `Job.batch "${name}" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`);
  });
});

describe("CronJobs", () => {
  /** Yearly, so no real tick falls within the test: only the test's clock makes them. */
  const cronJob = (name: string, spec: Record<string, unknown> = {}, args = ["--version"]) =>
    batch.createNamespacedCronJob({
      namespace: NS,
      body: {
        metadata: { name },
        spec: {
          schedule: "0 0 1 1 *",
          ...spec,
          jobTemplate: { metadata: { labels: { cron: name } }, spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "run", image: "ghcr.io/podid/podid-runtime:0.1.0", args }] } } } },
        },
      },
    });
  const jobsOf = async (name: string) => (await batch.listNamespacedJob({ namespace: NS, labelSelector: `cron=${name}` })).items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
  const complete = async (j: V1Job) => {
    const live = await batch.readNamespacedJob({ name: j.metadata!.name!, namespace: NS });
    const now = new Date();
    await batch.replaceNamespacedJobStatus({ name: j.metadata!.name!, namespace: NS, body: { ...live, status: { ...live.status, startTime: now, completionTime: now, succeeded: 1, conditions: [{ type: "Complete", status: "True", lastTransitionTime: now }] } } });
  };
  const advance = () => {
    offsetMs += YEAR_SECONDS * 1000;
  };

  it("makes a Job per tick of its clock, keeps the history it is told to, and none while suspended", async () => {
    const name = uniqueName("tick");
    const sibling = uniqueName("held");
    await cronJob(name, { successfulJobsHistoryLimit: 1 });
    await cronJob(sibling, { suspend: true });
    manager.reconcile();
    assert.deepEqual(await jobsOf(name), [], "no tick has passed");

    advance();
    manager.reconcile();
    const [first] = await jobsOf(name);
    const tick = Date.UTC(new Date(Date.now() + offsetMs).getUTCFullYear(), 0, 1);
    assert.equal(first.metadata!.name, `${name}-${tick / 60_000}`);
    assert.equal(first.metadata!.annotations!["batch.kubernetes.io/cronjob-scheduled-timestamp"], new Date(tick).toISOString().replace(".000Z", "Z"));
    assert.deepEqual(first.metadata!.ownerReferences!.map((r) => [r.kind, r.name, r.controller]), [["CronJob", name, true]]);
    const cj = await batch.readNamespacedCronJob({ name, namespace: NS });
    assert.deepEqual(cj.status!.active!.map((r) => r.name), [first.metadata!.name]);
    assert.equal(new Date(cj.status!.lastScheduleTime!).getTime(), tick);
    assert.deepEqual(await jobsOf(sibling), [], "a suspended CronJob makes nothing");
    manager.reconcile();
    assert.equal((await jobsOf(name)).length, 1, "one Job per tick");

    await complete(first);
    advance();
    manager.reconcile();
    const both = await jobsOf(name);
    assert.equal(both.length, 2, "the finished Job is within the history limit");
    const second = both.find((j) => j.metadata!.name !== first.metadata!.name)!;
    await complete(second);
    manager.reconcile();
    assert.deepEqual((await jobsOf(name)).map((j) => j.metadata!.name), [second.metadata!.name], "one successful Job kept");
    const after = await batch.readNamespacedCronJob({ name, namespace: NS });
    assert.equal(after.status!.active, undefined);
    assert.ok(after.status!.lastSuccessfulTime);
    assert.deepEqual(await jobsOf(sibling), []);
  });

  it("Forbid skips a tick while its Job runs; Replace deletes the running Job for the new one", async () => {
    const forbid = uniqueName("forbid");
    const replace = uniqueName("replace");
    await cronJob(forbid, { concurrencyPolicy: "Forbid" });
    await cronJob(replace, { concurrencyPolicy: "Replace" });
    advance();
    manager.reconcile();
    const [running] = await jobsOf(forbid);
    const [old] = await jobsOf(replace);
    advance();
    manager.reconcile();
    assert.deepEqual((await jobsOf(forbid)).map((j) => j.metadata!.name), [running.metadata!.name]);
    assert.ok(events.some((e) => e.name === forbid && e.reason === "JobAlreadyActive"));
    const replaced = (await jobsOf(replace)).filter((j) => !j.metadata!.deletionTimestamp);
    assert.equal(replaced.length, 1);
    assert.notEqual(replaced[0].metadata!.name, old.metadata!.name);
    assert.deepEqual((await batch.readNamespacedCronJob({ name: replace, namespace: NS })).status!.active!.map((r) => r.name), [replaced[0].metadata!.name]);
  });

  it("refuses a schedule the parser cannot read, with its words", async () => {
    const name = uniqueName("bad");
    const refused = await rejected(cronJob(name, { schedule: "every minute" }));
    assert.equal(refused.code, 422);
    assert.equal(refused.message, `CronJob.batch "${name}" is invalid: spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]`);
  });
});


