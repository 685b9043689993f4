import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, Watch, type V1Pod, type V1PodTemplateSpec } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { PACKAGE_VERSION } from "../../src/util/package-info.js";
import { DEMO_IMAGE } from "../../src/render/install.js";
import { injectionProblem } from "../../src/kube/workload-identity.js";
import { sandboxAdmin } from "../../src/sandbox/admin-client.js";
import type { MigrationPlan } from "../../src/core/migrate/model.js";
import { CLI, REPO_ROOT, runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { eventually } from "../helpers/eventually.js";
import { applyFix, findingOf, runDoctor } from "../helpers/doctor.js";
import { assertMatchesSchema, type Schema } from "../helpers/json-schema.js";

/**
 * `podid migrate` as a user runs it, on the demo installation plus workloads of two identities: one on its own
 * ServiceAccount (web), one on `default` (worker), one whose SDK only speaks IMDS and needs the proxy sidecar
 * (legacy), a DaemonSet (agent, a pod on each node), a CronJob (nightly, whose past runs stay as completed Jobs), and
 * a StatefulSet whose new pods the webhook refuses (stuck: a pod annotation pod identity never read; a StatefulSet
 * deletes a pod before it makes the new one). Plan (by its published schema; the dry run before the issuer exists)
 * -> an apply interrupted by Ctrl-C and rolled back -> apply under faults (429 and another writer's 409 on the
 * credential writes, Entra ID's propagation delay) with every workload watched for a moment without a path to a
 * token -> finish with stuck left on pod identity -> stuck fixed, applied and finished -> MIC has detached the
 * identities, nothing of pod identity is left (nightly's ended runs keep their label: history), doctor is all ok,
 * every phase re-run is unchanged -> uninstall.
 */

let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let apps: AppsV1Api;
let batch: BatchV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let compute: ComputeManagementClient;
const clientIds: Record<string, string> = {};
const NS = "default";
const WORKLOADS = ["web", "worker", "legacy", "stuck", "agent", "nightly"] as const;
type Name = (typeof WORKLOADS)[number];
/** Those with pods that serve all along (the CronJob's come and go). */
const SERVING = WORKLOADS.filter((n) => n !== "nightly");
/** Which identity (binding selector) each uses. */
const SELECTOR: Record<Name, string> = { web: "demo", worker: "second", legacy: "second", stuck: "demo", agent: "second", nightly: "second" };
const KIND: Record<Name, "Deployment" | "DaemonSet" | "StatefulSet" | "CronJob"> = { web: "Deployment", worker: "Deployment", legacy: "Deployment", stuck: "StatefulSet", agent: "DaemonSet", nightly: "CronJob" };
const IDENTITY: Record<string, string> = { demo: "podid-demo", second: "second-id" };

const podid = async (args: string[], expectCode = 0) => {
  const r = await runPodid(args, { env: sb.env, timeoutMs: 300_000 });
  assert.equal(r.code, expectCode, `podid ${args.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
};
const json = <T>(text: string) => JSON.parse(text) as T;
const sandboxLog = () => readFileSync(join(sb.dir, "sandbox.log"), "utf8");
const canonical = (v: unknown): string => JSON.stringify(v, (_k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));

/** Each workload's pod template (nightly's: one round, then it exits). */
function template(name: Name): V1PodTemplateSpec {
  const args = ["--subscription-id", sb.info.subscriptionId, "--resource-group", sb.info.nodeResourceGroup, "--client-id", clientIds[SELECTOR[name]], ...(name === "nightly" ? ["--once"] : ["--interval", "2s"])];
  const container = {
    name: "demo",
    image: `${DEMO_IMAGE}:${PACKAGE_VERSION}`,
    args,
    // An app whose SDK knows nothing of workload identity: the token file variable it names stays empty.
    ...(name === "legacy" ? { env: [{ name: "AZURE_FEDERATED_TOKEN_FILE", value: "" }] } : {}),
  };
  return {
    metadata: {
      labels: { app: name, aadpodidbinding: SELECTOR[name] },
      // Left from an earlier try of workload identity; pod identity never read it, the webhook refuses it.
      ...(name === "stuck" ? { annotations: { "azure.workload.identity/service-account-token-expiration": "600" } } : {}),
    },
    spec: { ...(name === "web" ? { serviceAccountName: "web-sa" } : {}), ...(name === "nightly" ? { restartPolicy: "Never" } : {}), containers: [container] },
  };
}

async function createWorkload(name: Name): Promise<void> {
  const metadata = { name, namespace: NS };
  const selector = { matchLabels: { app: name } };
  switch (KIND[name]) {
    case "Deployment":
      return void (await apps.createNamespacedDeployment({ namespace: NS, body: { metadata, spec: { replicas: 1, selector, template: template(name) } } }));
    case "DaemonSet":
      return void (await apps.createNamespacedDaemonSet({ namespace: NS, body: { metadata, spec: { selector, template: template(name) } } }));
    case "StatefulSet":
      return void (await apps.createNamespacedStatefulSet({ namespace: NS, body: { metadata, spec: { serviceName: name, replicas: 1, selector, template: template(name) } } }));
    case "CronJob":
      // A schedule that does not come round during the test: its runs are made by hand, as kubectl create job --from does.
      return void (await batch.createNamespacedCronJob({ namespace: NS, body: { metadata, spec: { schedule: "0 0 1 1 *", jobTemplate: { spec: { backoffLimit: 0, template: template(name) } } } } }));
  }
}

const podsOf = async (name: Name) => (await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${name}` })).items;
const ready = (p: V1Pod) => !p.metadata?.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
const readWorkload = async (name: Name): Promise<{ metadata?: { annotations?: Record<string, string> }; template: V1PodTemplateSpec }> => {
  const at = { name, namespace: NS };
  switch (KIND[name]) {
    case "Deployment": {
      const d = await apps.readNamespacedDeployment(at);
      return { metadata: d.metadata, template: d.spec!.template };
    }
    case "DaemonSet": {
      const d = await apps.readNamespacedDaemonSet(at);
      return { metadata: d.metadata, template: d.spec!.template };
    }
    case "StatefulSet": {
      const d = await apps.readNamespacedStatefulSet(at);
      return { metadata: d.metadata, template: d.spec!.template };
    }
    case "CronJob": {
      const d = await batch.readNamespacedCronJob(at);
      return { metadata: d.metadata, template: d.spec!.jobTemplate.spec!.template };
    }
  }
};
const templateOf = async (name: Name) => (await readWorkload(name)).template;
const logOf = (pod: string) => core.readNamespacedPodLog({ namespace: NS, name: pod, container: "demo" });
/** A run of nightly made by hand, waited for until it has ended (either way: it never runs again). */
async function runNightly(job: string): Promise<void> {
  const r = await runShell(`kubectl create job --from=cronjob/nightly ${job} -n ${NS}`, { env: sb.env });
  assert.equal(r.code, 0, r.stderr);
  await eventually(`job ${job} ends`, async () => ((await batch.readNamespacedJob({ name: job, namespace: NS })).status?.conditions ?? []).some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True"), { timeoutMs: 120_000, intervalMs: 500 });
}
/** Runs the CLI as a child the test can interrupt, collecting its stderr. */
function spawnPodid(args: string[]): { stderr: () => string; exited: Promise<number | null>; interrupt: () => void } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...sb.env, NO_COLOR: "1" } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 130 : null))));
  return { stderr: () => stderr, exited, interrupt: () => child.kill("SIGINT") };
}
/**
 * After every change to the namespace's pods or to any AzureAssignedIdentity (the API server's watch events, so no
 * moment between two samples goes unseen), each workload named must have a ready pod with a path to a token: NMI (its
 * label, MIC's assignment Assigned) or workload identity (the webhook's injection on its federated ServiceAccount).
 * `stop` ends the watches and returns the gaps.
 */
async function watchForGaps(names: readonly Name[]): Promise<{ stop: () => Promise<string[]> }> {
  const gaps: string[] = [];
  const pods = new Map<string, V1Pod>();
  const aais = new Map<string, { pod: string; status: string }>();
  const check = () => {
    for (const name of names) {
      const serving = [...pods.values()].filter((p) => p.metadata?.labels?.app === name && ready(p));
      const viaNmi = serving.some((p) => p.metadata?.labels?.aadpodidbinding && [...aais.values()].some((a) => a.pod === p.metadata?.name && a.status === "Assigned"));
      const viaWi = serving.some((p) => p.metadata?.labels?.["azure.workload.identity/use"] === "true" && !injectionProblem(p as never));
      if (!viaNmi && !viaWi) gaps.push(`${new Date().toISOString()} ${name}: ${serving.map((p) => p.metadata?.name).join(", ") || "no ready pod"}`);
    }
  };
  type Event = { metadata?: { name?: string; namespace?: string } };
  const keepPod = (type: string, o: Event) => (type === "DELETED" ? pods.delete(o.metadata!.name!) : pods.set(o.metadata!.name!, o as V1Pod));
  const keepAai = (type: string, o: Event) => {
    const key = `${o.metadata?.namespace}/${o.metadata?.name}`;
    const a = o as unknown as { spec: { pod: string }; status?: { status?: string } };
    if (type === "DELETED") aais.delete(key);
    else aais.set(key, { pod: a.spec.pod, status: a.status?.status ?? "" });
  };
  // Listed first (the state a change applies to), then every change from that version on.
  const podList = await core.listNamespacedPod({ namespace: NS });
  podList.items.forEach((p) => keepPod("ADDED", p));
  const aaiList = (await custom.listClusterCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", plural: "azureassignedidentities" })) as { metadata: { resourceVersion: string }; items: Event[] };
  aaiList.items.forEach((a) => keepAai("ADDED", a));
  check();
  // A watch that ends before stop() leaves moments unseen: that is a gap in what the test saw, so it counts as one.
  let stopping = false;
  const follow = (path: string, resourceVersion: string | undefined, keep: (type: string, o: Event) => void) =>
    new Watch(clients.kc).watch(
      path,
      { resourceVersion },
      (type, o: Event) => {
        keep(type, o);
        check();
      },
      (err) => void (stopping || gaps.push(`${new Date().toISOString()} the watch of ${path} ended before the apply did: ${err ?? "closed"}`)),
    );
  const requests = await Promise.all([
    follow(`/api/v1/namespaces/${NS}/pods`, podList.metadata?.resourceVersion, keepPod),
    follow("/apis/aadpodidentity.k8s.io/v1/azureassignedidentities", aaiList.metadata.resourceVersion, keepAai),
  ]);
  return {
    stop: async () => {
      stopping = true;
      requests.forEach((r) => r.abort());
      return gaps;
    },
  };
}
async function assigned(): Promise<{ pod: string; identity: string; status: string }[]> {
  const list = (await custom.listClusterCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", plural: "azureassignedidentities" })) as { items: { spec: { pod: string; azureIdentityRef: { metadata: { name: string } } }; status?: { status?: string } }[] };
  return list.items.map((a) => ({ pod: a.spec.pod, identity: a.spec.azureIdentityRef.metadata.name, status: a.status?.status ?? "" }));
}
async function credentials(identity: string): Promise<string[]> {
  const out: string[] = [];
  for await (const c of clients.msi.federatedIdentityCredentials.list(sb.info.resourceGroup, identity)) out.push(c.name!);
  return out.sort();
}
async function scaleSetIdentities(): Promise<string[]> {
  const out: string[] = [];
  for await (const v of compute.virtualMachineScaleSets.list(sb.info.nodeResourceGroup)) out.push(...Object.keys(v.identity?.userAssignedIdentities ?? {}).map((id) => id.split("/").pop()!.toLowerCase()));
  return out;
}
/** A ready pod of each workload logs a token on the path named, and its use on ARM, at `since` or later. */
async function tokensFlow(names: Name[], path: RegExp, since: Date): Promise<void> {
  const after = (log: string, re: RegExp) => log.split("\n").some((l) => re.test(l) && new Date(l.slice(0, 24)).getTime() >= since.getTime());
  for (const name of names) {
    await eventually(
      `${name} gets a token (${path}) since ${since.toISOString()}`,
      async () => {
        for (const pod of (await podsOf(name)).filter(ready)) {
          const log = await logOf(pod.metadata!.name!).catch(() => "");
          if (after(log, path) && after(log, /successfully doARMOperations vm count \d+/)) return true;
        }
        return false;
      },
      { timeoutMs: 90_000, intervalMs: 500, context: async () => (await Promise.all((await podsOf(name)).map(async (p) => `${p.metadata?.name}:\n${(await logOf(p.metadata!.name!).catch(() => "")).slice(-800)}`))).join("\n") },
    );
  }
}

before(async () => {
  sb = await startSandbox({ nodes: 2 });
  clients = sandboxClients(sb);
  apps = clients.kc.makeApiClient(AppsV1Api);
  batch = clients.kc.makeApiClient(BatchV1Api);
  core = clients.kc.makeApiClient(CoreV1Api);
  custom = clients.kc.makeApiClient(CustomObjectsApi);
  compute = new ComputeManagementClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [`${sb.info.endpoints.activeDirectoryResourceId}.default`] });
  // The demo installation: MIC and NMI, identity podid-demo (Reader on the node group) bound to selector demo.
  await podid(["demo", "--dir", sb.dir, "--keep", "--timeout", "120", "-o", "none"]);
  const nodeGroup = `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.nodeResourceGroup}`;
  await podid(["identity", "add", "-n", "second-id", "-g", sb.info.resourceGroup, "--role", "Reader", "--scope", nodeGroup, "--binding-selector", "second", "-o", "none"]);
  for (const [selector, name] of Object.entries(IDENTITY)) clientIds[selector] = json<{ spec: { clientID: string } }>(JSON.stringify(await custom.getNamespacedCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", namespace: NS, plural: "azureidentities", name }))).spec.clientID;
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "web-sa" } } });
  for (const name of WORKLOADS) await createWorkload(name);
  await tokensFlow([...SERVING], /successfully acquired a token using the MSI/, new Date(0));
  // nightly ran once on pod identity: a completed Job, its template still labelled, stays in its history.
  await runNightly("nightly-before");
});

after(async () => sb?.stop());

test("plan: blocked until the cluster has its OIDC issuer and workload identity; then each workload's move, by the published schema", async () => {
  const blocked = json<MigrationPlan>((await podid(["migrate", "plan"])).stdout);
  const enable = `az aks update -g ${sb.info.resourceGroup} -n ${sb.info.clusterName} --enable-oidc-issuer --enable-workload-identity   # or: podid migrate apply --enable-workload-identity`;
  assert.deepEqual(blocked.blockers.map((b) => [b.code, b.remedy]), [["OidcIssuerDisabled", enable], ["WorkloadIdentityDisabled", enable]]);
  const refused = await podid(["migrate", "apply"], 1);
  assert.match(refused.stderr, /^ERROR: AKS cluster podid-aks has no OIDC issuer.*\naz aks update -g podid-sandbox -n podid-aks --enable-oidc-issuer --enable-workload-identity {3}# or: podid migrate apply --enable-workload-identity$/m);
  // What --enable-workload-identity would do: the switches first; the issuer AKS will give is not known yet, nor the
  // hash in the credential names made from it, and the dry run says so rather than print names of another issuer.
  const early = await podid(["migrate", "apply", "--enable-workload-identity", "--dry-run", "-o", "yaml"]);
  assert.match(early.stdout, /^# azure: update AKS cluster podid-aks: OIDC issuer and workload identity \(az aks update /m);
  assert.match(early.stdout, /^# azure: create federated credential podid-default-web-sa-<issuer-hash> of identity default\/podid-demo for system:serviceaccount:default:web-sa, issuer \(the cluster's, known once its OIDC issuer is enabled; the name's hash is of it\)$/m);
  // What `az aks update --enable-oidc-issuer --enable-workload-identity` sends.
  const aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [`${sb.info.endpoints.activeDirectoryResourceId}.default`] });
  const cluster = await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName);
  assert.equal(cluster.oidcIssuerProfile?.enabled ?? false, false, "the dry run switched nothing on");
  const issuer = (await aks.managedClusters.beginCreateOrUpdateAndWait(sb.info.resourceGroup, sb.info.clusterName, { ...cluster, oidcIssuerProfile: { enabled: true }, securityProfile: { workloadIdentity: { enabled: true } } }, { updateIntervalInMs: 100 })).oidcIssuerProfile!.issuerURL!;

  const r = await podid(["migrate", "plan", "--proxy-sidecar-for", "deployment/legacy"]);
  const plan = json<MigrationPlan>(r.stdout);
  assertMatchesSchema(plan, json<Schema>(readFileSync(join(REPO_ROOT, "docs", "migrate-plan.schema.json"), "utf8")));
  assert.deepEqual(plan.blockers, []);
  assert.equal(plan.cluster.issuerUrl, issuer);
  assert.deepEqual(plan.workloads.map((w) => [w.ref, w.state, w.identities.join(), w.serviceAccount, w.proxySidecar, w.migratable]), [
    ["cronjob/nightly", "pod-identity", "default/second-id", { current: "default", target: "nightly", create: true }, false, true],
    ["daemonset/agent", "pod-identity", "default/second-id", { current: "default", target: "agent", create: true }, false, true],
    ["deployment/legacy", "pod-identity", "default/second-id", { current: "default", target: "legacy", create: true }, true, true],
    ["deployment/web", "pod-identity", "default/podid-demo", { current: "web-sa", target: "web-sa", create: false }, false, true],
    ["deployment/worker", "pod-identity", "default/second-id", { current: "default", target: "worker", create: true }, false, true],
    ["statefulset/stuck", "pod-identity", "default/podid-demo", { current: "default", target: "stuck", create: true }, false, true],
  ]);
  assert.deepEqual(plan.identities.map((i) => [i.name, i.clientId, i.credentials.toCreate]).sort(), [["podid-demo", clientIds.demo, 2], ["second-id", clientIds.second, 4]]);
  assert.deepEqual(plan.federatedCredentials.map((c) => [c.subject, c.issuer, c.audiences, c.action]).sort(), ["agent", "legacy", "nightly", "stuck", "web-sa", "worker"].map((s) => [`system:serviceaccount:default:${s}`, issuer, ["api://AzureADTokenExchange"], "create"]));
  assert.match(r.stderr, /deployment\/worker in default runs as ServiceAccount default: it gets a new ServiceAccount worker/);

  // --dry-run -o yaml: every manifest as it would be applied, the Azure writes as comments with their issuer; nothing written.
  const dry = await podid(["migrate", "apply", "--proxy-sidecar-for", "deployment/legacy", "--dry-run", "-o", "yaml"]);
  assert.match(dry.stdout, new RegExp(`^# azure: create federated credential podid-default-web-sa-[0-9a-f]{8} of identity default/podid-demo for system:serviceaccount:default:web-sa, issuer ${issuer.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
  const docs = parseAllDocuments(dry.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: { serviceAccountName: string } } } });
  assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), [
    "ServiceAccount/nightly", "ServiceAccount/agent", "ServiceAccount/legacy", "ServiceAccount/web-sa", "ServiceAccount/worker", "ServiceAccount/stuck",
    "CronJob/nightly", "DaemonSet/agent", "Deployment/legacy", "Deployment/web", "Deployment/worker", "StatefulSet/stuck",
  ]);
  const legacy = docs.find((d) => d.kind === "Deployment" && d.metadata.name === "legacy")!.spec!.template;
  assert.deepEqual(legacy.metadata.labels, { "azure.workload.identity/use": "true" }, "what the patch sets: aadpodidbinding stays as it is");
  assert.deepEqual(legacy.metadata.annotations, { "azure.workload.identity/inject-proxy-sidecar": "true" });
  assert.equal(legacy.spec.serviceAccountName, "legacy");
  assert.deepEqual([await credentials("podid-demo"), await credentials("second-id")], [[], []]);
  assert.equal((await podsOf("web"))[0].metadata?.labels?.["azure.workload.identity/use"], undefined);
});

test("rollback from the middle of apply (Ctrl-C during verification) puts back exactly what was there, with tokens flowing through NMI", async () => {
  const before = Object.fromEntries(await Promise.all(WORKLOADS.map(async (n) => [n, canonical(await templateOf(n))])));
  // The nodes are full (cordoned): the Deployments' new pods wait for a node, so verification waits on their
  // rollouts for as long as the test holds the nodes, and Ctrl-C comes while it does (the old pods serve meanwhile).
  const nodes = (await core.listNode()).items.map((n) => n.metadata!.name!);
  const cordon = async (verb: "cordon" | "uncordon") => {
    const r = await runShell(nodes.map((n) => `kubectl ${verb} ${n}`).join(" && "), { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
  };
  await cordon("cordon");
  const apply = spawnPodid(["migrate", "apply", "--proxy-sidecar-for", "deployment/legacy", "--timeout", "60", "--verbose"]);
  try {
    await eventually("apply waits in verification for web's new pod", () => /^INFO: verify on workload identity \(4 at a time\): .*: deployment\/web: deployment\/web: 1 of 1 updated, 1 available, 2 in all /m.test(apply.stderr()), {
      timeoutMs: 120_000,
      intervalMs: 100,
      context: () => apply.stderr(),
    });
  } finally {
    apply.interrupt();
  }
  try {
    assert.equal(await apply.exited, 130, apply.stderr());
  } finally {
    await cordon("uncordon");
  }
  // Ctrl-C (no error: one quiet line) says where it was and what it had done, and that the same command finishes the job.
  assert.match(apply.stderr(), /^Cancelled during verify on workload identity \(4 at a time\): .*\.\nAlready done: .*federated credential podid-default-worker-\w+ .*\(created\).*; Deployment default\/web: label azure\.workload\.identity\/use, ServiceAccount web-sa \(updated\).* Re-running the same command finishes the job\.$/m);
  const status = json<{ workload: string; state: string; note: string }[]>((await podid(["migrate", "status"])).stdout);
  const moved = status.filter((s) => s.state === "both");
  assert.ok(moved.length > 0 && moved.every((s) => /moved by an apply that did not verify it \(interrupted\?\)/.test(s.note)), JSON.stringify(status));
  assert.ok((await credentials("second-id")).length > 0, "the credentials were written before the interruption");
  // The CronJob runs once on its new template (as the ServiceAccount podid made for it) before the rollback.
  await runNightly("nightly-during");

  const since = new Date();
  const r = await podid(["migrate", "rollback", "--yes", "--timeout", "120"]);
  assert.match(r.stderr, /^WARNING: deployment\/web in default was moved by an apply that did not verify it \(interrupted\?\): .*: rollback puts it back on pod identity$/m);
  // The deprecated serviceAccount field too: the API server keeps it equal to serviceAccountName.
  for (const n of WORKLOADS) assert.equal(canonical(await templateOf(n)), before[n], `${n}'s pod template is as it was`);
  for (const n of WORKLOADS) assert.equal((await readWorkload(n)).metadata?.annotations?.["podid.io/workload-identity-migration"], undefined);
  assert.deepEqual((await core.listNamespacedServiceAccount({ namespace: NS })).items.map((s) => s.metadata!.name).sort(), ["default", "web-sa"], "the ServiceAccounts podid made are gone (nightly's too: its run has ended)");
  assert.deepEqual((await core.readNamespacedServiceAccount({ name: "web-sa", namespace: NS })).metadata?.annotations ?? {}, {}, "web-sa without podid's annotations");
  assert.deepEqual([await credentials("podid-demo"), await credentials("second-id")], [[], []]);
  assert.ok(json<{ steps: { outcome: string }[] }>(r.stdout).steps.length > 0);
  await tokensFlow(["web", "worker", "legacy", "agent"], /successfully acquired a token using the MSI, msiEndpoint\(http:\/\/127\.\d+\.0\.\d+:\d+\/metadata/, since);
  // Rolling back again finds nothing of podid's left.
  assert.deepEqual(json<{ steps: unknown[] }>((await podid(["migrate", "rollback", "--yes"])).stdout).steps, []);
});

test("apply under faults: 429 and another writer's 409 on credential writes, Entra ID's propagation delay, a workload never admitted; never a moment without a path to a token", async () => {
  await podid(["sandbox", "settings", "--federation-delay", "10", "--dir", sb.dir, "-o", "none"]);
  await podid(["sandbox", "fault", "add", "--service", "arm", "--method", "PUT", "--path", "*/federatedIdentityCredentials/podid-*", "--status", "429", "--retry-after", "1", "--count", "2", "--dir", sb.dir, "-o", "none"]);
  await sandboxAdmin(sb.dir, "PATCH", "settings", { federatedCredentialWriteMs: 1500 });
  // Someone else writes credentials of second-id (az, another pipeline) until podid has met their 409.
  let writing = true;
  const writer = (async () => {
    const subject = "system:serviceaccount:elsewhere:by-hand";
    while (writing && !/arm PUT \S+\/second-id\/federatedIdentityCredentials\/podid-\S+ 409 /.test(sandboxLog())) {
      await clients.msi.federatedIdentityCredentials.createOrUpdate(sb.info.resourceGroup, "second-id", "by-hand", { issuer: "https://elsewhere.example/", subject, audiences: ["api://AzureADTokenExchange"] }).catch(() => undefined);
    }
  })();
  // Every serving workload is watched for a moment without a path to a token (nightly has no pod between runs: a run
  // made by hand after the apply shows its path).
  const watch = await watchForGaps(SERVING);
  const since = new Date();
  let r;
  try {
    r = await podid(["migrate", "apply", "--proxy-sidecar-for", "deployment/legacy", "--timeout", "20", "--verbose"], 1);
  } finally {
    writing = false;
    const gaps = await watch.stop();
    await writer;
    await sandboxAdmin(sb.dir, "PATCH", "settings", { federatedCredentialWriteMs: 200, federationDelaySeconds: 0 });
    assert.deepEqual(gaps, [], "no moment without a path");
  }
  const result = json<{ workloads: { ref: string; verified: boolean; reason?: string }[] }>(r.stdout);
  assert.deepEqual(result.workloads.map((w) => [w.ref, w.verified]), [["cronjob/nightly", true], ["daemonset/agent", true], ["deployment/legacy", true], ["deployment/web", true], ["deployment/worker", true], ["statefulset/stuck", false]]);
  // stuck is refused before anything of it is touched (a StatefulSet deletes its pod before it makes the new one).
  assert.match(r.stderr, /^ERROR: statefulset\/stuck in default did not get a token through workload identity and is on pod identity: the API server refuses a pod of its new template: admission webhook "mutation\.azure-workload-identity\.io" denied the request: token expiration 600 not valid/m);
  assert.match(r.stderr, /waiting for Entra ID to learn the federated credential podid-default-\S+ \(AADSTS70021/, "the propagation was waited for by exchanges");
  assert.match(r.stderr, /409 ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity; retrying in/);
  assert.equal((sandboxLog().match(/arm PUT \S+\/federatedIdentityCredentials\/podid-\S+ 429 /g) ?? []).length, 2, "both 429s were met (the SDK retried them)");
  await clients.msi.federatedIdentityCredentials.delete(sb.info.resourceGroup, "second-id", "by-hand");
  assert.deepEqual((await credentials("second-id")).map((n) => n.replace(/-\w+$/, "")), ["podid-default-agent", "podid-default-legacy", "podid-default-nightly", "podid-default-worker"]);

  // New pods: through workload identity (web, worker: the token file; legacy: the proxy sidecar on its own address).
  await tokensFlow(["web", "worker", "agent"], /successfully acquired a token using workload identity, tokenFile\(\S+azure-identity-token\)/, since);
  await tokensFlow(["legacy"], /successfully acquired a token using the MSI, msiEndpoint\(http:\/\/(\S+):8000\/metadata\/identity\/oauth2\/token\)/, since);
  // ... and still NMI's: the new pods keep aadpodidbinding, and MIC has assigned them their identity.
  const aais = await assigned();
  for (const name of ["web", "worker", "legacy", "agent"] as const) {
    const pod = (await podsOf(name)).find(ready)!;
    assert.ok(aais.some((a) => a.pod === pod.metadata?.name && a.identity === IDENTITY[SELECTOR[name]] && a.status === "Assigned"), `${pod.metadata?.name} has both paths`);
  }
  // nightly's next run (made by hand) runs as its new ServiceAccount and gets its token through workload identity.
  await runNightly("nightly-after");
  const run = (await podsOf("nightly")).filter((p) => p.metadata?.ownerReferences?.some((o) => o.kind === "Job" && o.name === "nightly-after"));
  assert.equal(run.length, 1);
  assert.equal(run[0].status?.phase, "Succeeded", `${run[0].metadata?.name}: ${run[0].status?.phase}`);
  assert.equal(run[0].spec?.serviceAccountName, "nightly");
  const runLog = await logOf(run[0].metadata!.name!);
  assert.match(runLog, /successfully acquired a token using workload identity, tokenFile\(\S+azure-identity-token\)/, runLog);
  assert.match(runLog, /successfully doARMOperations vm count \d+/, runLog);
  // stuck never got a new pod: its old one served on pod identity all along, and its template is as it was.
  const stuck = await podsOf("stuck");
  assert.equal(stuck.length, 1);
  assert.equal(new Date(stuck[0].metadata!.creationTimestamp!) < since, true);
  assert.equal((await templateOf("stuck")).metadata?.labels?.["azure.workload.identity/use"], undefined);
  const states = json<{ workload: string; state: string; note: string }[]>((await podid(["migrate", "status"])).stdout);
  assert.deepEqual(states.map((s) => [s.workload, s.state]), [["cronjob/nightly", "verified"], ["daemonset/agent", "verified"], ["deployment/legacy", "verified"], ["deployment/web", "verified"], ["deployment/worker", "verified"], ["statefulset/stuck", "pod-identity"]]);
  assert.match(states[5].note, /^the last apply left it on pod identity: the API server refuses a pod of its new template: admission webhook/);
});

test("finish moves the verified workloads off pod identity (stuck stays on it); fixed, stuck follows; then nothing of pod identity is left and MIC has detached the identities", async () => {
  const started = new Date();
  const first = json<{ finished: { ref: string }[]; notFinished: { ref: string }[]; podIdentityInUse: boolean; steps: { step: string; outcome: string; detail?: { kept?: string } }[] }>((await podid(["migrate", "finish", "--yes"])).stdout);
  assert.deepEqual(first.finished.map((f) => f.ref), ["cronjob/nightly", "daemonset/agent", "deployment/legacy", "deployment/web", "deployment/worker"]);
  assert.deepEqual(first.notFinished.map((f) => f.ref), ["statefulset/stuck"]);
  assert.equal(first.podIdentityInUse, true);
  const outcome = (step: string) => first.steps.find((s) => s.step === step);
  assert.equal(outcome("AzureIdentityBinding default/second-id-binding")?.outcome, "deleted");
  assert.equal(outcome("AzureIdentity default/second-id")?.outcome, "deleted");
  assert.match(outcome("AzureIdentityBinding default/podid-demo-binding")?.detail?.kept ?? "", /^still selects .*default\/statefulset\/stuck/);
  assert.deepEqual(await scaleSetIdentities().then((ids) => ids.includes("second-id")), false, "MIC detached second-id");
  for (const name of ["web", "worker", "legacy", "agent"] as const) {
    const pods = await podsOf(name);
    assert.ok(pods.every((p) => !p.metadata?.labels?.aadpodidbinding), `${name}'s pods are on workload identity alone`);
  }
  // nightly's template is off pod identity too; its ended runs of before keep their label (history, no users).
  assert.equal((await templateOf("nightly")).metadata?.labels?.aadpodidbinding, undefined);
  assert.equal((await batch.readNamespacedJob({ name: "nightly-before", namespace: NS })).spec?.template.metadata?.labels?.aadpodidbinding, "second");
  await tokensFlow(["worker"], /successfully acquired a token using workload identity/, started);
  await tokensFlow(["stuck"], /successfully acquired a token using the MSI/, new Date(0));

  // The cause fixed (the annotation the webhook refused is gone), stuck moves too; the others are left as they are.
  assert.equal((await runShell(`kubectl patch statefulset stuck -n ${NS} --type json -p '[{"op":"remove","path":"/spec/template/metadata/annotations"}]'`, { env: sb.env })).code, 0);
  const again = json<{ workloads: { ref: string; verified: boolean }[] }>((await podid(["migrate", "apply", "--timeout", "120"])).stdout);
  assert.deepEqual(again.workloads, [{ namespace: NS, ref: "statefulset/stuck", verified: true }]);
  const lastStarted = new Date();
  const last = json<{ podIdentityInUse: boolean; next?: string }>((await podid(["migrate", "finish", "--yes", "--timeout", "120"])).stdout);
  assert.equal(last.podIdentityInUse, false);
  assert.match(last.next ?? "", /nothing in the cluster uses pod identity any more: `podid uninstall`/);
  for (const plural of ["azureidentities", "azureidentitybindings", "azureassignedidentities"]) {
    assert.deepEqual((await custom.listClusterCustomObject({ group: "aadpodidentity.k8s.io", version: "v1", plural }) as { items: unknown[] }).items, [], plural);
  }
  const attached = await scaleSetIdentities();
  assert.ok(!attached.includes("podid-demo") && !attached.includes("second-id"), attached.join(", "));
  await tokensFlow(["stuck"], /successfully acquired a token using workload identity/, lastStarted);

  // Every phase again: nothing to do.
  const rerun = json<{ steps: { step: string; outcome: string }[] }>((await podid(["migrate", "apply"])).stdout);
  assert.ok(rerun.steps.length > 0 && rerun.steps.every((s) => s.outcome === "unchanged"), JSON.stringify(rerun.steps));
  assert.ok(!rerun.steps.some((s) => /^verify |: label /.test(s.step)), "finished workloads' templates are not touched again");
  const finishAgain = json<{ steps: { outcome: string }[] }>((await podid(["migrate", "finish", "--yes"])).stdout);
  assert.ok(finishAgain.steps.every((s) => s.outcome === "unchanged" || s.outcome === "absent"), JSON.stringify(finishAgain.steps));
  assert.deepEqual(json<{ state: string }[]>((await podid(["migrate", "status"])).stdout).map((s) => s.state), ["finished", "finished", "finished", "finished", "finished", "finished"]);

  // A manifest applied again puts aadpodidbinding back on web: both paths after finish, which doctor names; its fix finishes it again.
  await runShell(`kubectl patch deployment web -n ${NS} --type merge -p '{"spec":{"template":{"metadata":{"labels":{"aadpodidbinding":"demo"}}}}}'`, { env: sb.env });
  const both = findingOf((await runDoctor(sb, ["-A"])).report, "wi-migration", /deployment\/web in default carries aadpodidbinding=demo again although podid migrate finish took it off at /);
  assert.equal(both.severity, "warn");
  await applyFix(sb, both.fix, "--timeout", "120");
  assert.equal((await templateOf("web")).metadata?.labels?.aadpodidbinding, undefined);

  // The demo's own ended pods go as its clean-up would take them; then doctor finds nothing wrong, and uninstall needs no --force.
  await runShell(`kubectl delete pod podid-demo podid-demo-unlabelled -n ${NS} --ignore-not-found`, { env: sb.env });
  // nightly's ended runs stay, one of them still labelled for pod identity: history, which doctor does not count.
  assert.ok((await podsOf("nightly")).some((p) => p.status?.phase === "Succeeded" && p.metadata?.labels?.aadpodidbinding === "second"), "an ended run of nightly labelled aadpodidbinding=second");
  const doctor = await runDoctor(sb, ["-A"]);
  assert.equal(doctor.code, 0, JSON.stringify(doctor.report.checks.filter((c) => c.status !== "ok" && c.status !== "skipped"), null, 2));
  await podid(["uninstall", "--yes", "-o", "none"]);
  // The kubelet identity's grants podid made for pod identity go with it; the identities keep theirs (the workloads use them).
  const kubelet = (await new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [`${sb.info.endpoints.activeDirectoryResourceId}.default`] }).managedClusters.get(sb.info.resourceGroup, sb.info.clusterName)).identityProfile!.kubeletidentity!.objectId!;
  const grants: string[] = [];
  for await (const a of clients.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${kubelet}'` })) if (a.description?.startsWith("podid: kubelet of")) grants.push(a.description);
  assert.deepEqual(grants, []);
  const reader: string[] = [];
  for await (const a of clients.auth.roleAssignments.listForSubscription()) if (a.description?.startsWith("podid: identity default/")) reader.push(a.description);
  assert.deepEqual(reader.sort(), ["podid: identity default/podid-demo", "podid: identity default/second-id"]);
  await tokensFlow(["web", "legacy"], /successfully acquired a token using (workload identity|the MSI, msiEndpoint\(http:\/\/127\.\d+\.[1-9]\d*\.\d+:8000)/, new Date());
});
