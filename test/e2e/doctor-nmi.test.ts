import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { CoreV1Api, NetworkingV1Api } from "@kubernetes/client-node";
import { runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { applyFix, assertStatus, checkOf, createPod, findingOf, runDoctor } from "../helpers/doctor.js";
import { DEMO_IMAGE } from "../../src/render/install.js";
import { PACKAGE_VERSION } from "../../src/util/package-info.js";
import type { DoctorReport } from "../../src/core/doctor/model.js";
import { eventually } from "../helpers/eventually.js";

// podid doctor's checks of the way from a pod to NMI and from MIC to the scale set: 13 (exceptions), 14 (the
// probe through NMI), 17 (NMI reachable from pods) and 18 (scale-set errors MIC reported). One sandbox with MIC
// and NMI running; each scenario breaks one thing, runs doctor as a user would, applies the fix, re-checks.
let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let core: CoreV1Api;
let clientId: string;
const MIO = "f1a07417-d97a-45cb-824c-7a7467783830";

const podid = async (...args: string[]) => {
  const r = await runPodid(args, { env: sb.env, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r;
};
const addIdentity = async (name: string) =>
  (JSON.parse((await podid("identity", "add", "-n", name, "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--namespace", "default", "-o", "json")).stdout) as { clientId: string }).clientId;

/** A pod of the demo's image, asking for its token every few minutes (the demo's own pods run once). */
async function demoPod(name: string, labels: Record<string, string>): Promise<void> {
  await core.createNamespacedPod({
    namespace: "default",
    body: {
      metadata: { name, labels },
      spec: {
        nodeName: sb.info.nodes[0].name,
        containers: [{ name: "demo", image: `${DEMO_IMAGE}:${PACKAGE_VERSION}`, args: ["--interval", "300s", "--subscription-id", sb.info.subscriptionId, "--resource-group", sb.info.nodeResourceGroup, "--client-id", clientId] }],
      },
    },
  });
}

/** Runs doctor until `ok` holds of its report (MIC and NMI act asynchronously); says what the cluster holds if it never does. */
function doctorUntil(what: string, args: string[], ok: (r: DoctorReport) => boolean, timeoutMs = 60_000): Promise<DoctorReport> {
  return eventually(
    what,
    async () => {
      const { report } = await runDoctor(sb, args);
      assert.ok(ok(report), JSON.stringify(report.checks.filter((c) => c.status !== "ok" && c.id !== "kubelet-roles"), null, 1).slice(0, 6000));
      return report;
    },
    {
      timeoutMs,
      intervalMs: 1000,
      context: async () => {
        const seen = await runShell("kubectl get azureassignedidentities -A -o yaml; kubectl get events -A; kubectl logs -n kube-system -l app.kubernetes.io/component=mic --tail=30", { env: sb.env });
        return `${seen.stdout.slice(-6000)}${seen.stderr.slice(-2000)}`;
      },
    },
  );
}

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
  core = clients.kc.makeApiClient(CoreV1Api);
  await podid("install", "--cluster", sb.info.clusterName, "-g", sb.info.resourceGroup, "--timeout", "120");
  clientId = await addIdentity("podid-demo");
  await podid("bind", "--selector", "demo", "--identity", "podid-demo", "--namespace", "default");
  await demoPod("demo-labelled", { app: "web", aadpodidbinding: "demo" });
  await demoPod("demo-unlabelled", { app: "web" });
});

after(async () => sb?.stop());

test("13. an exception on a label every workload pod carries fails, naming the pods it exempts; the suggested podid exception delete makes it ok", async () => {
  assertStatus((await runDoctor(sb, ["--namespace", "default"])).report, "exceptions", "ok");
  await podid("exception", "add", "--name", "all-web", "--namespace", "default", "--pod-labels", "app=web");
  const r = await runDoctor(sb, ["--namespace", "default"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "exceptions", /AzurePodIdentityException default\/all-web \(podLabels app=web\) exempts pods that carry aadpodidbinding: default\/demo-labelled \(by app=web\)/);
  assert.ok(f.errors.includes("Identity not found"));
  assert.ok(f.errors.includes("exception pod default/demo-labelled token handling"), "NMI's own log line");
  assert.match(f.fix!, /^podid exception delete --name all-web --namespace default {3}# or: kubectl delete azurepodidentityexception all-web -n default/);
  // The probe (NMI's host route never applies exceptions) says what an exempted pod meets from inside instead.
  const probed = await runDoctor(sb, ["--namespace", "default", "--probe", "--pod", "demo-unlabelled"]);
  assert.match(findingOf(probed.report, "probe", /refused a token/).message, /Note: the pod matches AzurePodIdentityException default\/all-web, so from inside the pod NMI passes its token requests to the node's IMDS instead/);
  await applyFix(sb, f.fix);
  assertStatus((await runDoctor(sb, ["--namespace", "default"])).report, "exceptions", "ok");
});

test("13. an exception meant for MIC but created in another namespace than MIC's warns; the fix re-creates it in kube-system", async () => {
  await podid("exception", "add", "--name", "mic-exception", "--namespace", "default", "--pod-labels", "app.kubernetes.io/component=mic");
  const r = await runDoctor(sb, ["--namespace", "default"]);
  const f = findingOf(r.report, "exceptions", /AzurePodIdentityException default\/mic-exception .* matches MIC's pods by its labels, but MIC runs in namespace kube-system/);
  assert.equal(f.severity, "warn");
  assert.equal(f.fix, "podid exception add --name mic-exception --namespace kube-system --pod-labels app.kubernetes.io/component=mic && podid exception delete --name mic-exception --namespace default");
  for (const command of f.fix!.split(" && ")) await applyFix(sb, command);
  assertStatus((await runDoctor(sb, ["--namespace", "default"])).report, "exceptions", "ok");
});

test("14. --probe: the labelled pod gets a token through its node's NMI (client id shown, token never); the unlabelled one is refused with the fix, which makes it ok", async () => {
  const ok = await runDoctor(sb, ["--namespace", "default", "--probe", "--pod", "demo-labelled"]);
  assertStatus(ok.report, "probe", "ok");
  const seen = checkOf(ok.report, "probe").observed;
  assert.equal(seen.clientId, clientId);
  assert.equal(seen.identity, "AzureIdentity default/podid-demo");
  assert.match(String(seen.asked), /^http:\/\/127\.[\d.]+:2579\/host\/token\/$/);
  assert.doesNotMatch(ok.stdout, /eyJ[\w-]+\.|access_token/, "the token is never printed");
  const text = await runPodid(["doctor", "--namespace", "default", "--probe", "--pod", "demo-labelled"], { env: sb.env });
  assert.doesNotMatch(text.stdout, /eyJ[\w-]+\.|access_token/);

  const r = await runDoctor(sb, ["--namespace", "default", "--probe", "--pod", "demo-unlabelled"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "probe", /Pod default\/demo-unlabelled was refused a token: it carries no aadpodidbinding label/);
  assert.ok(f.errors.some((e) => /pod default\/demo-unlabelled has no aadpodidbinding label/.test(e)), `NMI's own refusal: ${f.errors.join(" | ")}`);
  assert.match(f.message, /NMI answered 404/);
  assert.equal(f.fix, "podid bind --selector demo --identity podid-demo --namespace default --name podid-demo-binding --label pod/demo-unlabelled");
  await applyFix(sb, f.fix);
  const fixed = await runDoctor(sb, ["--namespace", "default", "--probe", "--pod", "demo-unlabelled"]);
  assertStatus(fixed.report, "probe", "ok");
  assert.equal(checkOf(fixed.report, "probe").observed.clientId, clientId);
});

test("17. a NetworkPolicy denying egress outside the cluster to identity pods fails (token requests time out); deleting it (the kubectl fix) makes it ok", async () => {
  assertStatus((await runDoctor(sb, ["--namespace", "default"])).report, "nmi-reachable", "ok");
  const net = clients.kc.makeApiClient(NetworkingV1Api);
  await net.createNamespacedNetworkPolicy({
    namespace: "default",
    body: { metadata: { name: "cluster-only" }, spec: { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ namespaceSelector: {} }] }] } },
  });
  const r = await runDoctor(sb, ["--namespace", "default"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "nmi-reachable", /NetworkPolicy default\/cluster-only selects pods carrying aadpodidbinding \(demo-labelled.*\) and allows egress neither to 169\.254\.169\.254:80 nor to NMI at 127\.[\d.]+:2579/);
  assert.ok(f.errors.includes("dial tcp 169.254.169.254:80: i/o timeout"));
  assert.match(f.fix!, /^kubectl delete networkpolicy cluster-only -n default {3}# or add /);
  // Allowing only the metadata address is not enough where policies see NMI's DNAT target: a warning.
  await net.createNamespacedNetworkPolicy({
    namespace: "default",
    body: { metadata: { name: "imds-only" }, spec: { podSelector: { matchLabels: { aadpodidbinding: "demo" } }, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: { cidr: "169.254.169.254/32" } }], ports: [{ protocol: "TCP", port: 80 }] }] } },
  });
  const w = await runDoctor(sb, ["--namespace", "default"]);
  const fw = findingOf(w.report, "nmi-reachable", /NetworkPolicy default\/imds-only .* allows egress to 169\.254\.169\.254:80 but not to 127\.[\d.]+:2579, where NMI's iptables rule sends that traffic/);
  assert.equal(fw.severity, "warn");
  for (const fix of [f.fix!, fw.fix!]) {
    const run = await runShell(fix.replace(/\s+#.*$/, ""), { env: sb.env });
    assert.equal(run.code, 0, run.stderr);
  }
  assertStatus((await runDoctor(sb, ["--namespace", "default"])).report, "nmi-reachable", "ok");
});

test("18. ARM answering 429 to the scale-set PATCH warns with MIC's words while the assignment waits; clearing the fault makes it ok", async () => {
  await addIdentity("busy-id");
  await podid("bind", "--selector", "busy", "--identity", "busy-id", "--namespace", "default");
  await podid("sandbox", "fault", "add", "--dir", sb.dir, "--method", "PATCH", "--path", "*/virtualMachineScaleSets/*", "--status", "429", "--retry-after", "1");
  await createPod(clients.kc, sb, { name: "busy-pod", labels: { aadpodidbinding: "busy" } });
  const r = await doctorUntil("doctor sees MIC throttled", ["--namespace", "default"], (x) => checkOf(x, "scale-set-errors").findings.length > 0);
  const f = findingOf(r, "scale-set-errors", /ARM is throttling the scale-set calls/);
  assert.equal(f.severity, "warn");
  assert.ok(f.errors.includes("TooManyRequests") && f.errors.some((e) => /Azure is busy \(429 TooManyRequests/.test(e)), f.errors.join(" | "));
  await podid("sandbox", "fault", "clear", "--dir", sb.dir);
  await doctorUntil("the throttling finding clears once MIC got through", ["--namespace", "default"], (x) => checkOf(x, "scale-set-errors").status === "ok", 90_000);
});

test("18. the kubelet identity without Managed Identity Operator: MIC's LinkedAuthorizationFailed fails with the grant as fix; podid install re-grants and it turns ok", async () => {
  const aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] });
  await addIdentity("locked-id");
  await podid("bind", "--selector", "locked", "--identity", "locked-id", "--namespace", "default");
  const kubelet = (await aks.managedClusters.get(sb.info.resourceGroup, sb.info.clusterName)).identityProfile!.kubeletidentity!.objectId!;
  let revoked = 0;
  for await (const a of clients.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${kubelet}'` })) {
    if (a.roleDefinitionId!.toLowerCase().endsWith(MIO)) {
      await clients.auth.roleAssignments.deleteById(a.id!);
      revoked++;
    }
  }
  assert.ok(revoked > 0, "identity add granted Managed Identity Operator on locked-id, install on the group: both revoked");
  await createPod(clients.kc, sb, { name: "locked-pod", labels: { aadpodidbinding: "locked" } });
  const r = await doctorUntil("doctor sees MIC's LinkedAuthorizationFailed", ["--namespace", "default"], (x) => checkOf(x, "scale-set-errors").findings.some((f) => /LinkedAuthorizationFailed/.test(f.message)));
  const f = findingOf(r, "scale-set-errors", /ARM refused to attach the identity: the kubelet identity may write the scale set but may not assign the identity/);
  assert.equal(f.severity, "fail");
  assert.ok(f.errors.includes("LinkedAuthorizationFailed"));
  assert.ok(!checkOf(r, "scale-set-errors").findings.some((x) => /TooManyRequests/.test(x.message)), "the earlier throttling, over since, does not count");
  assert.ok(f.objects.some((o) => /^AzureAssignedIdentity default\/locked-pod-default-locked-id/.test(o)), f.objects.join(", "));
  assert.match(f.fix!, new RegExp(`^podid install --cluster ${sb.info.clusterName} -g ${sb.info.resourceGroup} --identity-resource-group ${sb.info.resourceGroup}`));
  await applyFix(sb, f.fix);
  await doctorUntil("MIC assigns once the role is back", ["--namespace", "default"], (x) => checkOf(x, "scale-set-errors").status === "ok", 120_000);
});
