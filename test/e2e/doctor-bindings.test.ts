import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AppsV1Api, CustomObjectsApi, CoreV1Api } from "@kubernetes/client-node";
import { runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { applyFix, assertStatus, checkOf, createPod, ensureNamespace, findingOf, runDoctor } from "../helpers/doctor.js";
import { eventually } from "../helpers/eventually.js";

// podid doctor's cluster-side matching checks: 8 (bindings), 9 (pod labels), 10 (selector reach across
// namespaces) and 19 (old field casing). Each scenario breaks one thing, runs doctor, applies its fix, re-checks.
let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let custom: CustomObjectsApi;
const GROUP = "aadpodidentity.k8s.io";

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
  custom = clients.kc.makeApiClient(CustomObjectsApi);
  const r = await runPodid(["install", "--cluster", sb.info.clusterName, "-g", sb.info.resourceGroup, "--no-wait"], { env: sb.env });
  assert.equal(r.code, 0, r.stderr);
  for (const ns of ["team-a", "team-b", "team-c", "team-d"]) await ensureNamespace(clients.kc, ns);
});

after(async () => sb?.stop());

const podid = async (...args: string[]) => {
  const r = await runPodid(args, { env: sb.env });
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r;
};
const addIdentity = (name: string, namespace: string) => podid("identity", "add", "-n", name, "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--namespace", namespace);

test("8. a binding naming an AzureIdentity that does not exist in its namespace fails; the suggested identity add creates it", async () => {
  await custom.createNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "team-a", plural: "azureidentitybindings", body: { apiVersion: `${GROUP}/v1`, kind: "AzureIdentityBinding", metadata: { name: "orphan-binding" }, spec: { azureIdentity: "orphan-id", selector: "orphan" } } });
  await createPod(clients.kc, sb, { name: "orphan-pod", namespace: "team-a", labels: { aadpodidbinding: "orphan" } });
  const r = await runDoctor(sb, ["--namespace", "team-a"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "bindings", /AzureIdentityBinding team-a\/orphan-binding names AzureIdentity 'orphan-id', which does not exist in namespace team-a/);
  assert.ok(f.errors.includes("identity team-a/orphan-id not found"), "MIC's own words");
  assert.equal(f.fix, `podid identity add -n orphan-id -g ${sb.info.resourceGroup} --namespace team-a --cluster ${sb.info.clusterName} --cluster-resource-group ${sb.info.resourceGroup}`);
  await applyFix(sb, f.fix);
  const fixed = await runDoctor(sb, ["--namespace", "team-a"]);
  assertStatus(fixed.report, "bindings", "ok");
  assert.deepEqual((checkOf(fixed.report, "bindings").observed["team-a/orphan-binding"] as { pods: string[] }).pods, ["team-a/orphan-pod"], "MIC's matching assigns the pod");
});

test("8. a selector no pod carries warns (exit 4); labelling a pod with the suggested podid bind makes it ok", async () => {
  await addIdentity("lonely-id", "team-b");
  await podid("bind", "--selector", "lonely", "--identity", "lonely-id", "--namespace", "team-b");
  await createPod(clients.kc, sb, { name: "lonely-pod", namespace: "team-b" });
  const r = await runDoctor(sb, ["--namespace", "team-b"]);
  assert.equal(r.code, 4, JSON.stringify(r.report.checks.filter((c) => c.status !== "ok"), null, 2));
  const f = findingOf(r.report, "bindings", /AzureIdentityBinding team-b\/lonely-id-binding's selector 'lonely' matches no pod/);
  assert.equal(f.severity, "warn");
  assert.equal(f.fix, "podid bind --selector lonely --identity lonely-id --namespace team-b --name lonely-id-binding --label deployment/<name>");
  // the user names their workload: here a bare pod
  await applyFix(sb, f.fix!.replace("deployment/<name>", "pod/lonely-pod"));
  const fixed = await runDoctor(sb, ["--namespace", "team-b"]);
  assert.equal(fixed.code, 0, JSON.stringify(fixed.report.checks.filter((c) => c.status !== "ok"), null, 2));
});

test("9. a pod whose aadpodidbinding label is a typo fails with 'did you mean'; the suggested podid bind relabels it", async () => {
  await addIdentity("web-id", "team-c");
  await podid("bind", "--selector", "web", "--identity", "web-id", "--namespace", "team-c");
  await createPod(clients.kc, sb, { name: "web-0", namespace: "team-c", labels: { aadpodidbinding: "web" } });
  await createPod(clients.kc, sb, { name: "typo-pod", namespace: "team-c", labels: { aadpodidbinding: "wbe" } });
  const r = await runDoctor(sb, ["--namespace", "team-c"]);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "pod-labels", /Pod team-c\/typo-pod is labelled aadpodidbinding=wbe, but no AzureIdentityBinding has that selector: it gets no identity \(did you mean 'web'\?\)/);
  assert.ok(f.errors.includes("no AzureIdentityBinding matches selector wbe"));
  assert.equal(f.fix, "podid bind --selector web --identity web-id --namespace team-c --name web-id-binding --label pod/typo-pod");
  await applyFix(sb, f.fix);
  const fixed = await runDoctor(sb, ["--namespace", "team-c"]);
  assertStatus(fixed.report, "pod-labels", "ok");
  const pod = await clients.kc.makeApiClient(CoreV1Api).readNamespacedPod({ name: "typo-pod", namespace: "team-c" });
  assert.equal(pod.metadata?.labels?.aadpodidbinding, "web");
});

test("10. a selector bound in two namespaces and carried by a pod of a third warns for each identity; namespacing them (the fix) makes it ok", async () => {
  await addIdentity("shared-a", "team-a");
  await addIdentity("shared-d", "team-d");
  await podid("bind", "--selector", "shared", "--identity", "shared-a", "--namespace", "team-a");
  await podid("bind", "--selector", "shared", "--identity", "shared-d", "--namespace", "team-d");
  await createPod(clients.kc, sb, { name: "intruder", namespace: "team-b", labels: { aadpodidbinding: "shared" } });
  const r = await runDoctor(sb, ["-A"]);
  const fa = findingOf(r.report, "selector-scope", /AzureIdentity team-a\/shared-a .* can be taken by pods of other namespaces: selector 'shared' is also bound in namespace\(s\) team-d; pods outside team-a carry aadpodidbinding=shared \(.*team-b\/intruder/);
  const fd = findingOf(r.report, "selector-scope", /AzureIdentity team-d\/shared-d .* can be taken by pods of other namespaces: selector 'shared' is also bound in namespace\(s\) team-a/);
  assert.equal(fa.severity, "warn");
  assert.match(fa.fix!, /^kubectl annotate azureidentity shared-a -n team-a aadpodidentity\.k8s\.io\/Behavior=namespaced/);
  for (const f of [fa, fd]) {
    const run = await runShell(f.fix!.replace(/\s+#.*$/, ""), { env: sb.env });
    assert.equal(run.code, 0, run.stderr);
  }
  assertStatus((await runDoctor(sb, ["-A"])).report, "selector-scope", "ok");
});

test("19. objects applied with pre-1.6 field names fail (v1 prunes them); the suggested podid commands rewrite them", async () => {
  const azure = await clients.msi.userAssignedIdentities.createOrUpdate(sb.info.resourceGroup, "old-id", { location: sb.info.location });
  const manifest = `apiVersion: ${GROUP}/v1
kind: AzureIdentity
metadata:
  name: old-id
  namespace: team-d
spec:
  type: 0
  ResourceID: ${azure.id}
  ClientID: ${azure.clientId}
---
apiVersion: ${GROUP}/v1
kind: AzureIdentityBinding
metadata:
  name: old-binding
  namespace: team-d
spec:
  AzureIdentity: old-id
  Selector: old
`;
  const applied = await runShell(`kubectl apply --validate=false -f - <<'EOF'\n${manifest}EOF`, { env: sb.env });
  assert.equal(applied.code, 0, applied.stderr);
  await createPod(clients.kc, sb, { name: "old-pod", namespace: "team-d", labels: { aadpodidbinding: "old" } });
  const r = await runDoctor(sb, ["--namespace", "team-d"]);
  assert.equal(r.code, 5);
  const fi = findingOf(r.report, "field-casing", /AzureIdentity team-d\/old-id spells ResourceID \(v1: resourceID\), ClientID \(v1: clientID\) the pre-1\.6 way; v1 ignores them/);
  assert.ok(fi.errors.includes('unknown field "spec.ResourceID"'));
  assert.equal(fi.fix, `podid identity add -n old-id -g ${sb.info.resourceGroup} --namespace team-d --cluster ${sb.info.clusterName} --cluster-resource-group ${sb.info.resourceGroup}`);
  const fb = findingOf(r.report, "field-casing", /AzureIdentityBinding team-d\/old-binding spells AzureIdentity \(v1: azureIdentity\), Selector \(v1: selector\)/);
  assert.equal(fb.fix, "podid bind --selector old --identity old-id --namespace team-d --name old-binding");
  await applyFix(sb, fi.fix);
  await applyFix(sb, fb.fix);
  const fixed = await runDoctor(sb, ["--namespace", "team-d"]);
  assertStatus(fixed.report, "field-casing", "ok");
  assertStatus(fixed.report, "azure-identities", "ok");
});

// Last: it turns MIC's namespaced mode on for the rest of the file.
test("10 and 9 with MIC in namespaced mode by FORCENAMESPACED=true (not a flag): doctor agrees with the assignments MIC makes", async () => {
  for (const ns of ["team-e", "team-f"]) await ensureNamespace(clients.kc, ns);
  await addIdentity("fn-id", "team-e");
  await podid("bind", "--selector", "fn", "--identity", "fn-id", "--namespace", "team-e");
  await createPod(clients.kc, sb, { name: "fn-in", namespace: "team-e", labels: { aadpodidbinding: "fn" } });
  await createPod(clients.kc, sb, { name: "fn-out", namespace: "team-f", labels: { aadpodidbinding: "fn" } });
  const assignments = async () =>
    ((await custom.listClusterCustomObject({ group: GROUP, version: "v1", plural: "azureassignedidentities" })) as { items: { spec: { pod: string; podNamespace: string }; status?: { status?: string } }[] }).items
      .filter((a) => a.spec.pod.startsWith("fn-"))
      .map((a) => `${a.spec.podNamespace}/${a.spec.pod}=${a.status?.status}`)
      .sort();
  const WAIT = { timeoutMs: 120_000, intervalMs: 500 };
  await eventually("MIC (not namespaced) to assign both pods", async () => assert.deepEqual(await assignments(), ["team-e/fn-in=Assigned", "team-f/fn-out=Assigned"]), WAIT);

  const apps = clients.kc.makeApiClient(AppsV1Api);
  const mic = await apps.readNamespacedDeployment({ name: "podid-mic", namespace: "kube-system" });
  const container = mic.spec!.template.spec!.containers[0];
  container.env = [...(container.env ?? []), { name: "FORCENAMESPACED", value: "true" }];
  assert.ok(!(container.args ?? []).some((a) => /forceNamespaced/i.test(a)), "no flag: only the variable switches it on");
  await apps.replaceNamespacedDeployment({ name: "podid-mic", namespace: "kube-system", body: mic });
  await eventually("MIC in namespaced mode to take back the assignment across namespaces", async () => assert.deepEqual(await assignments(), ["team-e/fn-in=Assigned"]), WAIT);

  const r = await runDoctor(sb, ["-A"]);
  assert.equal(checkOf(r.report, "selector-scope").observed.forceNamespaced, true);
  assert.ok(!checkOf(r.report, "selector-scope").findings.some((f) => f.objects.includes("AzureIdentity team-e/fn-id")), "no other namespace can take the identity");
  findingOf(r.report, "pod-labels", /Pod team-f\/fn-out is labelled aadpodidbinding=fn, but the selector is bound only where its identity is namespaced \(team-e\/fn-id-binding\): it gets no identity/);
  assert.ok(!checkOf(r.report, "pod-labels").findings.some((f) => f.objects.includes("Pod team-e/fn-in")), "the pod MIC assigns is fine");
});
