import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { AppsV1Api, CoordinationV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { runPodid } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { eventually } from "../helpers/eventually.js";
import { demoResults } from "../../src/aadpodidentity/contract/demo-result.js";

/**
 * The sandbox's nodes as a user meets them: `podid install` brings MIC and NMI to Ready as processes that talk to
 * the API server with the ServiceAccount tokens the shipped RBAC covers (the sandbox enforces it), and workloads
 * that cannot run here say why.
 */

let sb: SandboxFixture;
let core: CoreV1Api;
let apps: AppsV1Api;
const podid = (args: string[]) => runPodid(args, { env: sb.env, timeoutMs: 180_000 });

before(async () => {
  sb = await startSandbox({ nodes: 3 });
  const { kc } = sandboxClients(sb);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

after(async () => sb?.stop());

/** The kubelet starts and stops processes: as long as that may take. */
const WAIT = { timeoutMs: 60_000, intervalMs: 250 };

const podsOf = async (component: string) => (await core.listNamespacedPod({ namespace: "kube-system", labelSelector: `app.kubernetes.io/component=${component}` })).items;
const ready = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

test("install (cluster found from the kubeconfig context) brings MIC with one leader and NMI on every node to Ready, running as their ServiceAccounts", async () => {
  const r = await podid(["install", "--timeout", "120", "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const rollout = JSON.parse(r.stdout).rollout as { component: string; desired: number; ready: number }[];
  assert.deepEqual(rollout.map((s) => [s.component, s.ready, s.desired]), [["mic", 2, 2], ["nmi", 3, 3]]);

  const mic = await podsOf("mic");
  const nmi = await podsOf("nmi");
  assert.equal(mic.length, 2);
  assert.ok(mic.every((p) => p.status?.phase === "Running" && ready(p)));
  assert.notEqual(mic[0].status?.podIP, mic[1].status?.podIP, "each pod has an address of its own");
  const network = sb.info.nodes[0].internalIP.split(".")[1];
  for (const p of mic) assert.match(p.status?.podIP ?? "", new RegExp(`^127\\.${network}\\.[1-9]\\d*\\.\\d+$`), "on the pod network of its node");
  assert.notEqual(mic[0].spec?.nodeName, mic[1].spec?.nodeName, "the preferred anti-affinity spreads MIC's replicas");

  const nodes = (await core.listNode()).items;
  assert.deepEqual(nmi.map((p) => p.spec?.nodeName).sort(), nodes.map((n) => n.metadata?.name).sort(), "one NMI per node");
  for (const p of nmi) {
    const node = nodes.find((n) => n.metadata?.name === p.spec?.nodeName)!;
    const hostIP = node.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
    assert.equal(p.status?.podIP, hostIP, "host network: the pod's IP is the node's");
    assert.equal(p.status?.hostIP, hostIP);
    assert.ok(await listening(hostIP!, 2579), `NMI listens on ${hostIP}:2579`);
    // $(NODE_NAME) and $(HOST_IP) came from fieldRefs: NMI says where it listens.
    const log = await podid(["sandbox", "logs", "--namespace", "kube-system", p.metadata!.name!, "--dir", sb.dir]);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, new RegExp(`listening on ${hostIP!.replace(/\./g, "\\.")}:2579`));
  }

  const lease = await sandboxClients(sb).kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "aad-pod-identity-mic", namespace: "kube-system" });
  const holder = lease.spec?.holderIdentity ?? "";
  assert.equal(mic.filter((p) => holder.startsWith(p.metadata!.name!)).length, 1, `one MIC pod leads (holder ${holder}); its host name is its pod name`);

  // What the pods talk to the API server as: their ServiceAccounts' tokens, nothing broader.
  for (const [pod, sa] of [[mic[0], "podid-mic"], [nmi[0], "podid-nmi"]] as const) {
    const dir = join(sb.dir, "pods", `kube-system_${pod.metadata!.name}_${pod.metadata!.uid}`);
    const kubeconfig = JSON.parse(readFileSync(join(dir, "kubeconfig"), "utf8")) as { users: { name: string }[] };
    assert.equal(kubeconfig.users[0].name, `system:serviceaccount:kube-system:${sa}`);
    const log = await podid(["sandbox", "logs", "--namespace", "kube-system", pod.metadata!.name!, "--dir", sb.dir]);
    // A status, not any run of digits (the API server's random port may hold 403).
    assert.doesNotMatch(log.stdout, /forbidden|Forbidden|\b403\b/, `${sa} lacks no permission:\n${log.stdout}`);
  }

  const again = await podid(["install", "--timeout", "120", "-o", "json"]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok((JSON.parse(again.stdout).steps as { outcome: string }[]).every((s) => s.outcome === "unchanged"), again.stdout);
});

test("pods of other images stay Pending with the reason; a failing container restarts with back-off; logs of a waiting container say so", async () => {
  await apps.createNamespacedDeployment({
    namespace: "default",
    body: {
      metadata: { name: "web" },
      spec: { replicas: 1, selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "nginx:1.27" }] } } },
    },
  });
  const [web] = await eventually(
    "the web pod to wait with a reason",
    async () => {
      const pods = (await core.listNamespacedPod({ namespace: "default", labelSelector: "app=web" })).items;
      assert.ok(pods.length === 1 && pods[0].status?.containerStatuses?.[0]?.state?.waiting, JSON.stringify(pods.map((p) => p.status), null, 1));
      return pods;
    },
    WAIT,
  );
  assert.equal(web.status?.phase, "Pending");
  assert.equal(web.status?.containerStatuses?.[0].state?.waiting?.reason, "ImageNotRunnable");
  assert.match(web.status?.containerStatuses?.[0].state?.waiting?.message ?? "", /podid-runtime/);
  const waitingLog = await podid(["sandbox", "logs", web.metadata!.name!, "--dir", sb.dir]);
  assert.notEqual(waitingLog.code, 0);
  assert.match(waitingLog.stderr, /is waiting to start: ImageNotRunnable/);
  const deployment = await apps.readNamespacedDeployment({ name: "web", namespace: "default" });
  assert.equal(deployment.status?.readyReplicas ?? 0, 0);

  // NMI without its node name exits at once: the kubelet restarts it, then backs off.
  await core.createNamespacedPod({ namespace: "default", body: { metadata: { name: "crasher" }, spec: { containers: [{ name: "nmi", image: "ghcr.io/podid/podid-runtime:0.1.0", args: ["runtime", "nmi"] }] } } });
  const crashed = await eventually(
    "the crashing pod to be restarted and back off",
    async () => {
      const p = await core.readNamespacedPod({ name: "crasher", namespace: "default" });
      const container = p.status?.containerStatuses?.[0];
      assert.ok((container?.restartCount ?? 0) >= 1 && container?.state?.waiting?.reason === "CrashLoopBackOff", JSON.stringify(container, null, 1));
      return p;
    },
    WAIT,
  );
  const status = crashed.status!.containerStatuses![0];
  assert.equal(status.lastState?.terminated?.exitCode, 2);
  assert.match(status.state?.waiting?.message ?? "", /^back-off 10s restarting failed container=nmi pod=crasher_default/);
  assert.equal(crashed.status?.phase, "Running");
  const log = await podid(["sandbox", "logs", "crasher", "--dir", sb.dir]);
  assert.match(log.stdout, /NMI needs the node name/);
  // Following a container that is not running prints what it wrote and ends.
  const followed = await podid(["sandbox", "logs", "crasher", "-f", "--dir", sb.dir]);
  assert.equal(followed.code, 0, followed.stderr);
  assert.match(followed.stdout, /NMI needs the node name/);
});

test("a Deployment rolls out as RollingUpdate says: old pods serve until new ones are ready; a pod the API server refuses is the ReplicaSet's FailedCreate, and the rest of the cluster goes on", async () => {
  const demo = (args: string[], sa?: string) => ({ ...(sa ? { serviceAccountName: sa } : {}), containers: [{ name: "demo", image: "ghcr.io/podid/podid-demo:0.1.0", args: ["--subscription-id", sb.info.subscriptionId, "--resource-group", "none", "--interval", "1h", ...args] }] });
  await apps.createNamespacedDeployment({ namespace: "default", body: { metadata: { name: "roll" }, spec: { replicas: 2, selector: { matchLabels: { app: "roll" } }, template: { metadata: { labels: { app: "roll" } }, spec: demo([]) } } } });
  const rollPods = async () => (await core.listNamespacedPod({ namespace: "default", labelSelector: "app=roll" })).items.filter((p) => !p.metadata?.deletionTimestamp);
  const first = await eventually("two ready pods", async () => {
    const pods = (await rollPods()).filter(ready);
    assert.equal(pods.length, 2);
    return pods.map((p) => p.metadata!.name!).sort();
  }, WAIT);
  // A template whose pods are refused (its ServiceAccount does not exist): the old pods stay, the refusal is an Event.
  const d = await apps.readNamespacedDeployment({ name: "roll", namespace: "default" });
  await apps.replaceNamespacedDeployment({ name: "roll", namespace: "default", body: { ...d, spec: { ...d.spec!, template: { ...d.spec!.template, spec: demo([], "nobody") } } } });
  const event = await eventually("FailedCreate on the new ReplicaSet", async () => {
    const events = (await core.listNamespacedEvent({ namespace: "default" })).items.filter((e) => e.reason === "FailedCreate" && e.involvedObject.kind === "ReplicaSet");
    assert.ok(events.length > 0);
    return events[0];
  }, WAIT);
  assert.match(event.message ?? "", /^Error creating: pods "roll-\S+" is forbidden: error looking up service account default\/nobody: serviceaccount "nobody" not found$/);
  assert.deepEqual((await rollPods()).filter(ready).map((p) => p.metadata!.name!).sort(), first, "the old pods still serve");
  // Other owners are reconciled meanwhile.
  await apps.createNamespacedDeployment({ namespace: "default", body: { metadata: { name: "other" }, spec: { replicas: 1, selector: { matchLabels: { app: "other" } }, template: { metadata: { labels: { app: "other" } }, spec: demo([]) } } } });
  await eventually("the other Deployment's pod", async () => assert.equal((await core.listNamespacedPod({ namespace: "default", labelSelector: "app=other" })).items.length, 1), WAIT);
  // A template that works: a new pod at a time (maxSurge 25% of 2 is 1, maxUnavailable 0), never fewer than 2 ready.
  const fixed = await apps.readNamespacedDeployment({ name: "roll", namespace: "default" });
  await apps.replaceNamespacedDeployment({ name: "roll", namespace: "default", body: { ...fixed, spec: { ...fixed.spec!, template: { ...fixed.spec!.template, spec: demo(["--interval", "2h"]) } } } });
  let fewest = 2;
  let most = 0;
  await eventually("the rollout completes", async () => {
    const pods = await rollPods();
    fewest = Math.min(fewest, pods.filter(ready).length);
    most = Math.max(most, pods.length);
    const dep = await apps.readNamespacedDeployment({ name: "roll", namespace: "default" });
    assert.equal(dep.status?.updatedReplicas, 2);
    assert.equal(dep.status?.replicas, 2);
    assert.ok(pods.every((p) => !first.includes(p.metadata!.name!)));
  }, WAIT);
  assert.equal(fewest, 2, "never fewer ready pods than replicas");
  assert.ok(most <= 3, `at most one pod over replicas (saw ${most})`);
  for (const name of ["roll", "other"]) await apps.deleteNamespacedDeployment({ name, namespace: "default" });
});

test("NMI's own iptables rule decides where pods' metadata traffic goes: moved to --nmi-port=2580, pods reach NMI there and never the node's IMDS", async () => {
  const nodes = (await core.listNode()).items;
  const ds = await apps.readNamespacedDaemonSet({ name: "podid-nmi", namespace: "kube-system" });
  const container = ds.spec!.template.spec!.containers[0];
  container.args = [...(container.args ?? []), "--nmi-port=2580"];
  await apps.replaceNamespacedDaemonSet({ name: "podid-nmi", namespace: "kube-system", body: ds });
  await eventually("NMI on every node to be ready on port 2580", async () => {
    const nmi = (await podsOf("nmi")).filter((p) => !p.metadata?.deletionTimestamp);
    assert.equal(nmi.length, nodes.length);
    for (const p of nmi) {
      assert.ok(p.spec?.containers[0].args?.includes("--nmi-port=2580"), `${p.metadata?.name} is of the new template`);
      assert.ok(ready(p), `${p.metadata?.name} is ready: its redirect is in place`);
      assert.ok(await listening(p.status!.podIP!, 2580));
    }
  }, WAIT);

  // A pod that no binding selects asks for a token: NMI refuses it. Were its traffic to reach the node's IMDS, it
  // would get the kubelet identity's token there.
  await core.createNamespacedPod({
    namespace: "default",
    body: { metadata: { name: "asks-nmi" }, spec: { restartPolicy: "Never", containers: [{ name: "demo", image: "ghcr.io/podid/podid-demo:0.1.0", args: ["--once", "--subscription-id", sb.info.subscriptionId, "--resource-group", "none"] }] } },
  });
  const result = await eventually("the pod's result line", async () => demoResults(await core.readNamespacedPodLog({ name: "asks-nmi", namespace: "default" }))[0] ?? false, WAIT);
  assert.equal(result.token, false, JSON.stringify(result));
  assert.equal(result.endpointStatus, 404, "NMI's answer to a pod without the aadpodidbinding label");
  await core.deleteNamespacedPod({ name: "asks-nmi", namespace: "default" });
});

test("uninstall stops MIC and NMI: their pods go and nothing listens on the nodes any more", async () => {
  const nmi = await podsOf("nmi");
  const r = await podid(["uninstall", "--force", "--yes", "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  await eventually("MIC and NMI pods to be gone", async () => assert.deepEqual([...(await podsOf("mic")), ...(await podsOf("nmi"))].map((p) => p.metadata?.name), []), WAIT);
  for (const p of nmi) await eventually(`NMI on ${p.spec?.nodeName} to stop listening`, async () => !(await listening(p.status!.podIP!, 2579)) && !(await listening(p.status!.podIP!, 2580)), WAIT);
  // With its DaemonSet deleted, NMI took its redirect with it: pods reach the node's IMDS again, as without pod identity.
  await core.createNamespacedPod({
    namespace: "default",
    body: { metadata: { name: "asks-imds" }, spec: { restartPolicy: "Never", containers: [{ name: "demo", image: "ghcr.io/podid/podid-demo:0.1.0", args: ["--once", "--subscription-id", sb.info.subscriptionId, "--resource-group", "none"] }] } },
  });
  const result = await eventually("the pod's result line", async () => demoResults(await core.readNamespacedPodLog({ name: "asks-imds", namespace: "default" }))[0] ?? false, WAIT);
  assert.equal(result.token, true, `the node's IMDS answers: ${JSON.stringify(result)}`);
  await core.deleteNamespacedPod({ name: "asks-imds", namespace: "default" });
});
