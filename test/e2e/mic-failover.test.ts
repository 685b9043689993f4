import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ComputeManagementClient } from "@azure/arm-compute";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type V1Pod } from "@kubernetes/client-node";
import { runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { uniqueName } from "../helpers/kube-api.js";
import { eventually } from "../helpers/eventually.js";

/**
 * MIC's failover as an operator meets it: the shipped Deployment (two replicas) on the sandbox's nodes, ARM throttling
 * the leader's scale-set update with a long Retry-After, and the leader pod deleted with kubectl. What each process did
 * is read from the sandbox's own request log, where every pod has its own address.
 */

const LEASE = { name: "aad-pod-identity-mic", namespace: "kube-system", durationMs: 15_000 };
const GROUP = "aadpodidentity.k8s.io";
let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let core: CoreV1Api;
const podid = (args: string[]) => runPodid(args, { env: sb.env, timeoutMs: 180_000 });
const kubectl = (args: string) => runShell(`kubectl ${args}`, { env: sb.env });
/** The sandbox log's lines without their timestamps: `<service> <METHOD> <path> <status> <ms>ms from <address>`, ... */
const sandboxLog = () =>
  readFileSync(join(sb.dir, "sandbox.log"), "utf8")
    .split("\n")
    .map((l) => l.replace(/^\S+Z /, ""));

before(async () => {
  sb = await startSandbox({ nodes: 2 });
  clients = sandboxClients(sb);
  core = clients.kc.makeApiClient(CoreV1Api);
  const installed = await podid(["install", "--timeout", "120", "-o", "none"]);
  assert.equal(installed.code, 0, installed.stderr);
});

after(async () => sb?.stop());

const micPods = async () => (await core.listNamespacedPod({ namespace: "kube-system", labelSelector: "app.kubernetes.io/component=mic" })).items;
const holder = async () => (await clients.kc.makeApiClient(CoordinationV1Api).readNamespacedLease(LEASE)).spec?.holderIdentity ?? "";
const leads = (pod: V1Pod, holderIdentity: string) => holderIdentity.startsWith(`${pod.metadata!.name}-`) || holderIdentity === pod.metadata!.name;
const from = (ip: string) => (line: string) => line.endsWith(` from ${ip}`);
const isWrite = (line: string) => /^(arm|kube) (POST|PUT|PATCH|DELETE) /.test(line);
const leaseWrite = (line: string) => line.startsWith(`kube PUT /apis/coordination.k8s.io/v1/namespaces/${LEASE.namespace}/leases/${LEASE.name} 200 `);

test("the leader deleted while ARM throttles its update (Retry-After 12 s) exits at once and releases the lease; another replica leads within the lease; the old one writes nothing after", async () => {
  // A workload MIC must attach an identity for; its image does not run here, but it is scheduled, which is what MIC needs.
  const identity = await clients.msi.userAssignedIdentities.createOrUpdate(sb.info.resourceGroup, uniqueName("failover"), { location: "eastus" });
  const custom = clients.kc.makeApiClient(CustomObjectsApi);
  const crd = (plural: string, kind: string, spec: object) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural, body: { apiVersion: `${GROUP}/v1`, kind, metadata: { name: "failover" }, spec } });
  await crd("azureidentities", "AzureIdentity", { type: 0, resourceID: identity.id, clientID: identity.clientId });
  await crd("azureidentitybindings", "AzureIdentityBinding", { azureIdentity: "failover", selector: "failover" });

  const fault = await podid(["sandbox", "fault", "add", "--dir", sb.dir, "--method", "PATCH", "--path", "*/virtualMachineScaleSets/*", "--status", "429", "--retry-after", "12", "-o", "json"]);
  assert.equal(fault.code, 0, fault.stderr);
  const faultId = (JSON.parse(fault.stdout) as { id: string }[]).at(-1)!.id;
  const created = await kubectl("run failover-app --image=nginx:1.27 --labels=aadpodidbinding=failover");
  assert.equal(created.code, 0, created.stderr);
  await eventually("the leader's scale-set update to be throttled", () => sandboxLog().some((l) => l.startsWith(`fault ${faultId} on arm PATCH`)), { timeoutMs: 60_000 });

  const current = await holder();
  const old = (await micPods()).find((p) => leads(p, current));
  assert.ok(old, `one MIC pod leads (holder ${current})`);
  const oldIp = old.status!.podIP!;
  const mark = sandboxLog().length;

  const deleted = await kubectl(`delete pod -n kube-system ${old.metadata!.name} --wait=false`);
  assert.equal(deleted.code, 0, deleted.stderr);
  // Released on SIGTERM: another replica (the standby, or the Deployment's replacement) needs no more than its next
  // try, well inside one lease duration.
  await eventually("another MIC pod to hold the lease", async () => {
    const now = await holder();
    return now !== "" && now !== current && (await micPods()).some((p) => p !== old && leads(p, now));
  }, { timeoutMs: LEASE.durationMs });
  // Exits within 5 s of SIGTERM, so the kubelet deletes the pod long before its 30 s grace period runs out.
  await eventually("the old leader's pod to be gone", async () => !(await micPods()).some((p) => p.metadata!.uid === old.metadata!.uid), { timeoutMs: 5_000 + 3_000 });

  // The old process's own requests are those from its address until the kubelet saw it end (an address may be
  // handed to the replacement after that).
  const after = sandboxLog().slice(mark);
  const ended = after.findIndex((l) => l === `kubelet: pod kube-system/${old.metadata!.name} terminated and deleted`);
  assert.ok(ended >= 0, "the kubelet finished the old pod");
  // Its last lease write before it ended is the release (a renewal may come before it); after that, nothing.
  const released = after.findLastIndex((l, i) => i < ended && leaseWrite(l) && from(oldIp)(l));
  assert.ok(released >= 0, `the old leader released the lease before it exited:\n${after.slice(0, ended + 1).filter(from(oldIp)).join("\n")}`);
  assert.ok(after.some((l, i) => i > released && leaseWrite(l)), "a successor wrote the lease after the release");
  const late = after.slice(released + 1, Math.max(released + 1, ended)).filter((l) => from(oldIp)(l) && isWrite(l));
  assert.deepEqual(late, [], "no ARM or Kubernetes write from the old leader after it released the lease");

  // ARM recovers: the successor attaches the identity and the assignment turns Assigned.
  const cleared = await podid(["sandbox", "fault", "clear", "--dir", sb.dir, "-o", "none"]);
  assert.equal(cleared.code, 0, cleared.stderr);
  const compute = new ComputeManagementClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  const app = await core.readNamespacedPod({ name: "failover-app", namespace: "default" });
  await eventually("the successor to attach the identity", async () => {
      const aai = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureassignedidentities", name: "failover-app-default-failover" })) as { status?: { status?: string } };
      const scaleSets = [];
      for await (const s of compute.virtualMachineScaleSets.listAll()) scaleSets.push(s);
      const onNode = scaleSets.find((s) => app.spec!.nodeName!.startsWith(s.name!));
      const attached = Object.keys(onNode?.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
      return aai.status?.status === "Assigned" && attached.includes(identity.id!.toLowerCase());
    }, { timeoutMs: 60_000 });
});
