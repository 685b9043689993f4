import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApiextensionsV1Api } from "@kubernetes/client-node";
import { spawnSync } from "node:child_process";
import { CLI, runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { applyFix, assertStatus, checkOf, findingOf, runDoctor } from "../helpers/doctor.js";

// podid doctor's framework (report, schema, exit codes, partial access) and checks 1 (cluster) and 2 (CRDs).
let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
/** `podid install` waits for MIC/NMI to roll out; the sandbox may not run them, so tests add --no-wait. */
const NO_WAIT = "--no-wait";

before(async () => {
  sb = await startSandbox();
  clients = sandboxClients(sb);
});

after(async () => sb?.stop());

test("before install: CRDs missing is a failure with `podid install` as the fix (exit 5); the fix makes every check ok (exit 0)", async () => {
  const broken = await runDoctor(sb);
  assert.equal(broken.code, 5, broken.stderr);
  assert.equal(broken.report.status, "fail");
  const f = findingOf(broken.report, "crds", /CustomResourceDefinition azureidentities\.aadpodidentity\.k8s\.io is missing/);
  assert.equal(f.fix, `podid install --cluster ${sb.info.clusterName} -g ${sb.info.resourceGroup}`);
  assert.ok(f.errors.some((e) => /no matches for kind "AzureIdentity"/.test(e)));
  // checks that need the CRDs are skipped, saying why; nothing crashes
  const bindings = checkOf(broken.report, "bindings");
  assert.equal(bindings.status, "skipped");
  assert.match(bindings.reason!, /does not serve aadpodidentity\.k8s\.io\/v1 \(see check crds\)/);

  await applyFix(sb, f.fix, NO_WAIT);
  const healthy = await runDoctor(sb);
  assert.equal(healthy.code, 0, JSON.stringify(healthy.report.checks.filter((c) => c.status !== "ok"), null, 2));
  assert.equal(healthy.report.status, "ok");
  for (const c of healthy.report.checks) assert.ok(c.status === "ok" || (c.id === "probe" && c.status === "skipped"), `${c.id}: ${c.status} ${c.reason ?? ""}`);
});

test("the JSON report follows the documented schema", async () => {
  const { report } = await runDoctor(sb, ["--namespace", "default"]);
  assert.equal(report.schemaVersion, 1);
  assert.deepEqual(Object.keys(report).sort(), ["checks", "generatedAt", "podidVersion", "schemaVersion", "scope", "status", "summary"]);
  assert.deepEqual(report.scope, { namespace: "default", allNamespaces: false, identity: null, pod: null, probe: false });
  assert.deepEqual(Object.keys(report.summary).sort(), ["fail", "ok", "skipped", "warn"]);
  const numbers = report.checks.map((c) => c.number);
  assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), "checks come in issue order");
  for (const c of report.checks) {
    assert.match(c.id, /^[a-z-]+$/);
    assert.ok(["ok", "warn", "fail", "skipped"].includes(c.status));
    assert.equal(typeof c.title, "string");
    assert.equal(typeof c.observed, "object");
    assert.ok(Array.isArray(c.findings));
    assert.equal(typeof c.durationMs, "number");
  }
  const cluster = checkOf(report, "cluster");
  assert.equal(cluster.observed.context, sb.info.clusterName);
  assert.match(String(cluster.observed.serverVersion), /^v1\.\d+/);
});

test("the default output is a text report; -o table is one row per check", async () => {
  const text = await runPodid(["doctor", "-A"], { env: sb.env });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^podid doctor: OK — 0 fail, 0 warn, \d+ ok, \d+ skipped \(all namespaces\)/);
  assert.match(text.stdout, /\[ok\] +1\. cluster reachable/);
  assert.match(text.stdout, /\[skipped\] 14\. .*\n +skipped: not asked/);
  assert.equal(text.stderr, "", "no progress when stderr is not a terminal");
  const table = await runPodid(["doctor", "-A", "-o", "table"], { env: sb.env });
  assert.match(table.stdout, /^Status +Check +Findings +Summary/);
  assert.match(table.stdout, /\nok +crds +0/);
  // --query asks the report (the -o json schema), whatever the format: as az does.
  const failing = await runPodid(["doctor", "-A", "-o", "tsv", "--query", "checks[?id=='crds'].[id, status]"], { env: sb.env });
  assert.equal(failing.stdout, "crds\tok\n");
  const queried = await runPodid(["doctor", "-A", "-o", "table", "--query", "checks[?status=='ok'].{check: id, took: durationMs}"], { env: sb.env });
  assert.match(queried.stdout, /^Check +Took\n-+ +-+\ncluster +\d+/);
});

const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;

test("on a terminal, progress is one live line counting the checks as they end, then the report", { skip: !hasScript && "util-linux `script` is not installed" }, async () => {
  const r = await runShell(`script -qfec "'${process.execPath}' '${CLI}' doctor -A" /dev/null`, { env: sb.env });
  assert.match(r.stdout, /running \d+ checks +[\d.]+m?s +\d+\/\d+ checked/);
  const esc = String.fromCharCode(27);
  assert.match(r.stdout, new RegExp(`\r${esc}\\[2K(${esc}\\[1m)?podid doctor: OK`), "the live line is cleared before the report");
});

test("1. an unreachable API server fails the cluster check, the rest are skipped; the right kubeconfig makes it ok", async () => {
  const good = readFileSync(join(sb.dir, "kubeconfig"), "utf8");
  const broken = join(sb.dir, "kubeconfig-broken");
  writeFileSync(broken, good.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:9"), { mode: 0o600 });
  const r = await runDoctor(sb, ["-A"], { KUBECONFIG: broken });
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "cluster", /cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:9 \(context podid-aks\)/);
  assert.ok(f.errors.includes("ECONNREFUSED"), JSON.stringify(f));
  assert.match(f.fix!, /az aks get-credentials|podid sandbox env/);
  const crds = checkOf(r.report, "crds");
  assert.equal(crds.status, "skipped");
  assert.match(crds.reason!, /cannot reach the cluster \(see check cluster\)/);
  // the fix: the sandbox's own kubeconfig
  assertStatus((await runDoctor(sb, ["-A"], { KUBECONFIG: join(sb.dir, "kubeconfig") })).report, "cluster", "ok");
});

test("2. a CRD that no longer serves v1 fails; podid install serves it again", async () => {
  const ext = clients.kc.makeApiClient(ApiextensionsV1Api);
  const name = "azureidentitybindings.aadpodidentity.k8s.io";
  const crd = await ext.readCustomResourceDefinition({ name });
  crd.spec.versions[0].served = false;
  await ext.replaceCustomResourceDefinition({ name, body: crd });
  const r = await runDoctor(sb);
  assert.equal(r.code, 5);
  const f = findingOf(r.report, "crds", /azureidentitybindings\.aadpodidentity\.k8s\.io does not serve v1 \(versions: v1 \(not served\)\)/);
  await applyFix(sb, f.fix, NO_WAIT);
  assertStatus((await runDoctor(sb)).report, "crds", "ok");
});

test("partial access: no subscription, or a principal without roles, skips the Azure checks naming what is missing", async () => {
  const noSub = await runDoctor(sb, ["-A"], { AZURE_SUBSCRIPTION_ID: "" });
  const roles = checkOf(noSub.report, "kubelet-roles");
  assert.equal(roles.status, "skipped");
  assert.match(roles.reason!, /no Azure subscription given/);
  assert.equal(checkOf(noSub.report, "crds").status, "ok", "cluster checks still run");

  const added = await runPodid(["sandbox", "principal", "add", "--dir", sb.dir, "--display-name", "doctor-no-roles"], { env: sb.env });
  assert.equal(added.code, 0, added.stderr);
  const p = JSON.parse(added.stdout) as { clientId: string; secretFile: string };
  const r = await runDoctor(sb, ["-A"], { AZURE_CLIENT_ID: p.clientId, AZURE_CLIENT_SECRET: readFileSync(p.secretFile, "utf8") });
  assert.equal(r.code, 0, "skipped checks do not fail the run");
  for (const id of ["network-plugin", "kubelet-roles"]) {
    const c = checkOf(r.report, id);
    assert.equal(c.status, "skipped", JSON.stringify(c));
    assert.match(c.missingPermission!, /^azure: Microsoft\.ContainerService\/managedClusters\/read$/);
    assert.match(c.reason!, /AuthorizationFailed/);
  }
});

test("usage errors: -n with -A, --probe without --pod", async () => {
  const both = await runPodid(["doctor", "--namespace", "default", "-A"], { env: sb.env });
  assert.equal(both.code, 2);
  const probe = await runPodid(["doctor", "--probe"], { env: sb.env });
  assert.equal(probe.code, 2);
  assert.match(probe.stderr, /--probe needs --pod POD/);
});
