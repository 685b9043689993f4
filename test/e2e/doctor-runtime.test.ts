import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ComputeManagementClient, type VirtualMachineScaleSetUpdate } from "@azure/arm-compute";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { revokeRole, VIRTUAL_MACHINE_CONTRIBUTOR } from "../helpers/roles.js";
import { applyFix, assertStatus, checkOf, createPod, findingOf, runDoctor } from "../helpers/doctor.js";
import type { DoctorReport } from "../../src/core/doctor/model.js";
import { computeTargetOfProviderId } from "../../src/azure/provider-id.js";
import { eventually } from "../helpers/eventually.js";

// podid doctor's checks of the running MIC and NMI: 3 (MIC pods and leader), 4 (NMI on every node),
// 11 (AzureAssignedIdentity stuck in Created), 12 (scale-set attachments), 15 (version skew, image health),
// 20 (system pods without an exception). MIC and NMI run as processes on the sandbox's kubelet. Each scenario
// breaks one thing, runs doctor as a user would, applies the suggested fix and sees the check turn ok.
let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let apps: AppsV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let compute: ComputeManagementClient;
let kubelet: string;
let install: string[];
const GROUP = "aadpodidentity.k8s.io";
const MINE = ["mic", "nmi", "assigned-identities", "scale-set-identities", "runtime-version", "system-exceptions"];

const podid = async (...args: string[]) => {
  const r = await runPodid(args, { env: sb.env, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `podid ${args.join(" ")}: ${r.stderr}`);
  return r;
};

/** kubectl, as the user runs it, against the sandbox. */
async function kubectl(args: string): Promise<string> {
  const r = await runShell(`kubectl ${args}`, { env: sb.env });
  assert.equal(r.code, 0, `kubectl ${args}: ${r.stderr}`);
  return r.stdout;
}

/** Waits as long as MIC, NMI and the kubelet may take; each try of a doctor run spawns the CLI. */
const WAIT = { timeoutMs: 60_000, intervalMs: 500 };

/** Runs doctor until the check has the status (MIC and NMI act asynchronously). */
const doctorUntil = (id: string, status: string, args: string[] = ["-A"], timeoutMs = WAIT.timeoutMs): Promise<{ code: number | null; report: DoctorReport }> =>
  eventually(
    `check ${id} ${status}`,
    async () => {
      const r = await runDoctor(sb, args);
      const check = checkOf(r.report, id);
      assert.equal(check.status, status, JSON.stringify(check, null, 1).slice(0, 3000));
      return r;
    },
    { ...WAIT, timeoutMs },
  );

/** Waits until as many pods match the selector in kube-system. */
const podsUntil = (what: string, labelSelector: string, count: number) =>
  eventually(what, async () => assert.equal((await core.listNamespacedPod({ namespace: "kube-system", labelSelector })).items.length, count), WAIT);

const micReplicas = async () => (await apps.readNamespacedDeployment({ name: "podid-mic", namespace: "kube-system" })).spec?.replicas;
async function scaleMic(replicas: number): Promise<void> {
  const d = await apps.readNamespacedDeployment({ name: "podid-mic", namespace: "kube-system" });
  await apps.replaceNamespacedDeployment({ name: "podid-mic", namespace: "kube-system", body: { ...d, spec: { ...d.spec!, replicas } } });
  await podsUntil("MIC pods at the scale", "app.kubernetes.io/component=mic", replicas);
}

/** Deletes the kubelet identity's assignments of a built-in role (by GUID). */
const revokeKubelet = (roleGuid: string) => revokeRole(clients.auth, kubelet, roleGuid);

/** An identity, its binding and a labelled pod on node 0; waits until MIC reports it Assigned (unless told not to). */
async function assignedPod(name: string, wait = true): Promise<{ resourceId: string; aai: string }> {
  const r = await podid("identity", "add", "-n", name, "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--namespace", "default");
  const resourceId = (JSON.parse(r.stdout) as { resourceId: string }).resourceId;
  await podid("bind", "--selector", name, "--identity", name, "--namespace", "default");
  await createPod(clients.kc, sb, { name: `${name}-pod`, labels: { aadpodidbinding: name } });
  const aai = `${name}-pod-default-${name}`;
  if (wait) {
    await eventually(
      `AzureAssignedIdentity ${aai} Assigned`,
      async () => {
        const object = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureassignedidentities", name: aai })) as { status?: { status?: string } };
        assert.equal(object.status?.status, "Assigned");
      },
      WAIT,
    );
  }
  return { resourceId, aai };
}

before(async () => {
  sb = await startSandbox({ nodes: 2 });
  clients = sandboxClients(sb);
  apps = clients.kc.makeApiClient(AppsV1Api);
  core = clients.kc.makeApiClient(CoreV1Api);
  custom = clients.kc.makeApiClient(CustomObjectsApi);
  const options = { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] };
  compute = new ComputeManagementClient(clients.credential, sb.info.subscriptionId, options);
  const aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, options);
  kubelet = (await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName)).identityProfile!.kubeletidentity!.objectId!;
  install = ["install", "--cluster", sb.info.clusterName, "-g", sb.info.resourceGroup];
  await podid(...install, "--timeout", "120");
});

after(async () => sb?.stop());

test("a healthy installation with a pod holding its identity: the runtime checks are all ok", async () => {
  await assignedPod("healthy-id");
  const r = await runDoctor(sb);
  for (const id of MINE) assertStatus(r.report, id, "ok");
  const mic = checkOf(r.report, "mic").observed as { lease: { leader: string[]; expired: boolean } };
  assert.equal(mic.lease.leader.length, 1, "one leader");
  assert.equal(mic.lease.expired, false);
});

test("3. MIC scaled to 0 fails with the kubectl scale and podid install fixes; each brings a leader back", async () => {
  await kubectl("scale deployment podid-mic -n kube-system --replicas=0");
  await podsUntil("MIC pods gone", "app.kubernetes.io/component=mic", 0);
  const r = await runDoctor(sb);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "mic", /no MIC pod is ready \(Deployment kube-system\/podid-mic: it is scaled to 0 replicas\)/);
  assert.ok(f.errors.includes("failed after 16 attempts"));
  assert.match(f.fix!, /^kubectl scale deployment podid-mic -n kube-system --replicas=2 +# or: podid install --cluster /);
  // The kubectl half, run as printed.
  await runShell(f.fix!.split("#")[0].trim(), { env: sb.env });
  assert.equal(await micReplicas(), 2);
  await doctorUntil("mic", "ok");
  // The podid half.
  await kubectl("scale deployment podid-mic -n kube-system --replicas=0");
  await podsUntil("MIC pods gone", "app.kubernetes.io/component=mic", 0);
  await applyFix(sb, f.fix!.split("# or: ")[1], "--timeout", "120");
  assert.equal(await micReplicas(), 2);
  await doctorUntil("mic", "ok");
});

test("4. an NMI DaemonSet whose nodeSelector leaves a node out names that node; the suggested kubectl patch puts NMI back", async () => {
  const nodes = (await core.listNode()).items;
  const [keep, lose] = nodes.map((n) => n.metadata!.name!);
  assert.equal(nodes[0].metadata!.labels!["kubernetes.io/hostname"], keep);
  await kubectl(`patch daemonset podid-nmi -n kube-system --type merge -p '{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/hostname":"${keep}"}}}}}'`);
  // the kept node's NMI is replaced too (its template changed): wait until only the left-out node is named
  const r = await eventually(
    "NMI missing on one node only",
    async () => {
      const x = await runDoctor(sb);
      const { findings } = checkOf(x.report, "nmi");
      assert.ok(findings.some((f) => f.message.startsWith("1 of 2")), JSON.stringify(findings, null, 1).slice(0, 3000));
      return x;
    },
    WAIT,
  );
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "nmi", new RegExp(`^1 of 2 Linux node\\(s\\) have no ready NMI: ${lose} \\(no NMI pod: DaemonSet kube-system/podid-nmi skips it \\(its nodeSelector kubernetes.io/hostname=${keep} does not match the node\\)\\)`));
  assert.ok(f.errors.includes("Identity not found"));
  assert.ok(f.objects.includes(`Node ${lose}`) && !f.objects.includes(`Node ${keep}`));
  assert.equal(f.fix!.replace(/\s+#.*$/, ""), `kubectl patch daemonset podid-nmi -n kube-system --type json -p '[{"op":"remove","path":"/spec/template/spec/nodeSelector/kubernetes.io~1hostname"}]'`);
  await kubectl(f.fix!.replace(/^kubectl\s+/, "").replace(/\s+#.*$/, ""));
  await doctorUntil("nmi", "ok");
});

test("11. without Virtual Machine Contributor MIC cannot attach: the AzureAssignedIdentity stays Created with MIC's AuthorizationFailed; podid install re-grants", async () => {
  assert.ok((await revokeKubelet(VIRTUAL_MACHINE_CONTRIBUTOR)) > 0);
  const { aai } = await assignedPod("stuck-id", false);
  const args = ["--namespace", "default", "--stuck-after", "1s"];
  const r = await doctorUntil("assigned-identities", "fail", args);
  const f = findingOf(r.report, "assigned-identities", new RegExp(`AzureAssignedIdentity default/${aai} \\(pod default/stuck-id-pod, identity default/stuck-id, node .*\\) has been Created for \\d+s, longer than 1s: .*MIC says: AuthorizationFailed: .*AuthorizationFailed`));
  assert.ok(f.errors.includes("AuthorizationFailed"), JSON.stringify(f.errors));
  assert.ok(f.errors.includes("failed after 16 attempts"));
  assert.match(f.fix!, new RegExp(`^podid install --cluster ${sb.info.clusterName} -g ${sb.info.resourceGroup} +# grants the kubelet identity Virtual Machine Contributor`));
  // the default threshold (2m) has not passed yet: not reported
  assertStatus((await runDoctor(sb, ["--namespace", "default"])).report, "assigned-identities", "ok");
  await applyFix(sb, f.fix);
  await doctorUntil("assigned-identities", "ok", args, 90_000);
});

test("12. an identity detached from the scale set behind MIC's back fails with the az vmss identity assign fix; re-attaching makes it ok", async () => {
  const { resourceId } = await assignedPod("detached-id");
  const node = await core.readNode({ name: sb.info.nodes[0].name });
  const target = computeTargetOfProviderId(node.spec?.providerID)!;
  await scaleMic(0); // else MIC re-attaches it at its next reconcile
  try {
    await compute.virtualMachineScaleSets.beginUpdateAndWait(target.resourceGroup, target.name, { identity: { type: "UserAssigned", userAssignedIdentities: { [resourceId]: null } } } as unknown as VirtualMachineScaleSetUpdate, { updateIntervalInMs: 100 });
    const r = await runDoctor(sb);
    const f = findingOf(r.report, "scale-set-identities", new RegExp(`scale set ${target.name} does not hold .*/userAssignedIdentities/detached-id, although MIC reports AzureAssignedIdentity default/detached-id-pod-default-detached-id Assigned`));
    assert.ok(f.errors.includes("Identity not found"));
    assert.match(f.fix!, new RegExp(`^az vmss identity assign -g ${target.resourceGroup} -n ${target.name} --identities ${resourceId.replace(/[/.]/g, "\\$&")} `));
    // the fix, as az would send it
    await compute.virtualMachineScaleSets.beginUpdateAndWait(target.resourceGroup, target.name, { identity: { type: "UserAssigned", userAssignedIdentities: { [resourceId]: {} } } }, { updateIntervalInMs: 100 });
    assertStatus((await runDoctor(sb)).report, "scale-set-identities", "ok");

    // A leftover: an identity attached by hand that no pod needs warns, with the az remove fix.
    const r2 = await podid("identity", "add", "-n", "leftover-id", "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--namespace", "default");
    const leftover = (JSON.parse(r2.stdout) as { resourceId: string }).resourceId;
    await compute.virtualMachineScaleSets.beginUpdateAndWait(target.resourceGroup, target.name, { identity: { type: "UserAssigned", userAssignedIdentities: { [leftover]: {} } } }, { updateIntervalInMs: 100 });
    const w = findingOf((await runDoctor(sb)).report, "scale-set-identities", /holds .*\/userAssignedIdentities\/leftover-id, which no AzureAssignedIdentity needs/);
    assert.equal(w.severity, "warn");
    assert.match(w.fix!, new RegExp(`^az vmss identity remove -g ${target.resourceGroup} -n ${target.name} --identities `));
    await compute.virtualMachineScaleSets.beginUpdateAndWait(target.resourceGroup, target.name, { identity: { type: "UserAssigned", userAssignedIdentities: { [leftover]: null } } } as unknown as VirtualMachineScaleSetUpdate, { updateIntervalInMs: 100 });
    assertStatus((await runDoctor(sb)).report, "scale-set-identities", "ok");
  } finally {
    await podid(...install, "--timeout", "120");
  }
  await doctorUntil("mic", "ok");
});

test("15. a runtime of another version warns with the skew; an image that cannot be pulled fails; podid install fixes both", async () => {
  await podid(...install, "--image-tag", "0.0.9", "--timeout", "120");
  const r = await runDoctor(sb);
  const w = findingOf(r.report, "runtime-version", /version skew: this podid is \d+\.\d+\.\d+\S* but the installed runtime is 0\.0\.9/);
  assert.equal(w.severity, "warn");
  assert.match(w.fix!, new RegExp(`^podid install --cluster ${sb.info.clusterName} -g ${sb.info.resourceGroup} +#`));
  await applyFix(sb, w.fix, "--timeout", "120");
  assertStatus((await runDoctor(sb)).report, "runtime-version", "ok");

  // A mirror that does not hold the image: the new pods cannot start it.
  await podid(...install, "--image", "myacr.azurecr.io/podid-runtme", "--no-wait");
  const broken = await doctorUntil("runtime-version", "fail");
  const f = findingOf(broken.report, "runtime-version", /MIC\/NMI container\(s\) cannot run: kube-system\/podid-(mic|nmi)-\S+ \(myacr\.azurecr\.io\/podid-runtme:\S+\): ImageNotRunnable/);
  assert.ok(f.errors.includes("ImageNotRunnable"));
  assert.ok(f.errors.includes("ErrImagePull") || f.errors.includes("Failed to pull image"));
  await applyFix(sb, f.fix, "--timeout", "120");
  const fixed = await doctorUntil("runtime-version", "ok");
  assertStatus(fixed.report, "mic", "ok");
});

test("20. MIC and an AKS add-on without their AzurePodIdentityExceptions fail, naming the pods; podid install re-creates the exceptions", async () => {
  await createPod(clients.kc, sb, { name: "omsagent-x", namespace: "kube-system", labels: { "kubernetes.azure.com/managedby": "aks" } });
  assertStatus((await runDoctor(sb)).report, "system-exceptions", "ok");
  for (const name of ["podid-mic-exception", "aks-addon-exception"]) {
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "kube-system", plural: "azurepodidentityexceptions", name });
  }
  // podid's NMI knows MIC's pods by their owner chain to podid-mic in its --MICNamespace: they need no exception.
  const chain = await runDoctor(sb);
  findingOf(chain.report, "system-exceptions", /AKS add-on pods kube-system\/omsagent-x/);
  assert.ok(!checkOf(chain.report, "system-exceptions").findings.some((x) => /MIC's pods/.test(x.message)), "MIC is exempt through its owner chain");
  // Without --MICNamespace (upstream's default namespace, "default"), NMI would answer MIC as a pod without an identity.
  const args = JSON.parse(await kubectl("get daemonset podid-nmi -n kube-system -o jsonpath={.spec.template.spec.containers[0].args}")) as string[];
  const at = args.findIndex((a) => a.startsWith("--MICNamespace="));
  assert.ok(at > 0, args.join(" "));
  await kubectl(`patch daemonset podid-nmi -n kube-system --type json -p '[{"op":"remove","path":"/spec/template/spec/containers/0/args/${at}"}]'`);
  const r = await runDoctor(sb);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "system-exceptions", /MIC's pods kube-system\/podid-mic-\S+, kube-system\/podid-mic-\S+ have no AzurePodIdentityException in kube-system/);
  assert.ok(f.errors.includes("No AzureAssignedIdentity found for pod"));
  assert.match(f.fix!, /# re-creates the exception podid-mic-exception; or: podid exception add --name podid-mic-exception --namespace kube-system --pod-labels app.kubernetes.io\/component=mic$/);
  const addon = findingOf(r.report, "system-exceptions", /AKS add-on pods kube-system\/omsagent-x use the node's identity and have no AzurePodIdentityException/);
  assert.match(addon.fix!, /--pod-labels kubernetes.azure.com\/managedby=aks$/);
  await applyFix(sb, f.fix);
  assertStatus((await runDoctor(sb)).report, "system-exceptions", "ok");
  await core.deleteNamespacedPod({ name: "omsagent-x", namespace: "kube-system" });
});

test("right after `podid install --no-wait` MIC and NMI pods that are still starting are not findings", async (t) => {
  await kubectl("delete deployment/podid-mic daemonset/podid-nmi -n kube-system");
  await podsUntil("MIC and NMI pods gone", "app.kubernetes.io/name=podid", 0);
  await podid(...install, "--no-wait");
  const r = await runDoctor(sb);
  for (const id of MINE) assertStatus(r.report, id, "ok");
  const seen = JSON.stringify([checkOf(r.report, "mic").observed, checkOf(r.report, "nmi").observed]);
  // Usually doctor runs before the pods' first readiness probe passes; if they were quicker, the run still had to be ok.
  if (!/starting/.test(seen)) t.diagnostic(`the pods were ready before doctor looked: ${seen}`);
});
