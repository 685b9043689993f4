import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { CLI, runPodid, runShell } from "../helpers/cli.js";

const hasKubectl = spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;
const dir = mkdtempSync(join(tmpdir(), "podid-e2e-sandbox-"));
const podidEnv = `eval "$(node ${CLI} sandbox env --dir ${dir})"`;

before(async () => {
  const started = await runPodid(["sandbox", "start", "--dir", dir, "--nodes", "2"]);
  assert.equal(started.code, 0, started.stderr);
});

after(async () => {
  await runPodid(["sandbox", "stop", "--dir", dir]);
  rmSync(dir, { recursive: true, force: true });
});

test("start prints endpoints and files as JSON, and status agrees", async () => {
  const status = await runPodid(["sandbox", "status", "--dir", dir]);
  assert.equal(status.code, 0);
  const info = JSON.parse(status.stdout);
  assert.equal(info.status, "running");
  assert.match(info.endpoints.resourceManager, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(info.endpoints.activeDirectory, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(info.endpoints.kubernetes, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(info.nodes.length, 2);
  assert.match(info.nodeResourceGroup, /^MC_[^_]+_[^_]+_[a-z0-9]+$/);
  for (const file of Object.values(info.files) as string[]) assert.ok(existsSync(file), file);
  const again = await runPodid(["sandbox", "start", "--dir", dir]);
  assert.equal(again.code, 0);
  assert.equal(JSON.parse(again.stdout).pid, info.pid, "a second start leaves the running sandbox alone");
});

test("secrets live only in 0600 files and are never printed", async () => {
  const secret = readFileSync(join(dir, "client-secret"), "utf8");
  assert.ok(secret.length >= 16);
  assert.equal(statSync(join(dir, "client-secret")).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, "kubeconfig")).mode & 0o777, 0o600);
  for (const f of ["azure.json", "ca-key.pem", "tls-key.pem"]) assert.equal(statSync(join(dir, "state", f)).mode & 0o777, 0o600, f);
  for (const args of [["sandbox", "env"], ["sandbox", "status"], ["sandbox", "start"], ["sandbox", "status", "-o", "yaml"]]) {
    const out = await runPodid([...args, "--dir", dir]);
    assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret), `${args.join(" ")} printed the secret`);
  }
});

test("sandbox env exports what SDKs, kubectl and podid need", async () => {
  const r = await runShell(`${podidEnv} && env`);
  assert.equal(r.code, 0, r.stderr);
  const vars = Object.fromEntries(r.stdout.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  for (const name of ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST", "AZURE_SUBSCRIPTION_ID", "PODID_CLOUD", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "KUBECONFIG"]) {
    assert.ok(vars[name], `${name} is exported`);
  }
  assert.equal(vars.AZURE_CLIENT_SECRET, readFileSync(join(dir, "client-secret"), "utf8"));
  const profile = JSON.parse(readFileSync(vars.PODID_CLOUD, "utf8"));
  assert.equal(profile.endpoints.activeDirectory, vars.AZURE_AUTHORITY_HOST);
});

test("kubectl get nodes lists one node per scale-set instance", { skip: !hasKubectl && "kubectl is not installed (.ci/run installs Debian's kubernetes-client)" }, async () => {
  const status = JSON.parse((await runPodid(["sandbox", "status", "--dir", dir])).stdout);
  const r = await runShell(`${podidEnv} && kubectl get nodes -o name`);
  assert.equal(r.code, 0, r.stderr);
  const names = r.stdout.trim().split("\n").map((l) => l.replace(/^node\//, "")).sort();
  assert.deepEqual(names, status.nodes.map((n: { name: string }) => n.name).sort());
});

test("a script using only public SDK packages creates, grants, attaches and gets an IMDS token", async () => {
  const r = await runShell(`${podidEnv} && node test/e2e/fixtures/sdk-walkthrough.mjs e2e-walkthrough`);
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(seen.readerAssignments, 1);
  assert.notEqual(seen.beforeAttach, "token", "no token before the identity is attached");
  assert.ok(seen.attached.some((k: string) => k.toLowerCase() === seen.identityId.toLowerCase()));
  assert.equal(seen.token.oid, seen.principalId);
  assert.equal(seen.token.appid, seen.clientId);
  assert.equal(seen.token.xms_mirid.toLowerCase(), seen.identityId.toLowerCase());
});

test("state survives stop and start; --fresh resets it", async () => {
  const before = JSON.parse((await runPodid(["sandbox", "status", "--dir", dir])).stdout);
  assert.equal((await runPodid(["sandbox", "stop", "--dir", dir])).code, 0);
  assert.equal(JSON.parse((await runPodid(["sandbox", "status", "--dir", dir])).stdout).status, "stopped");
  const restarted = await runPodid(["sandbox", "start", "--dir", dir]);
  assert.equal(restarted.code, 0, restarted.stderr);
  const info = JSON.parse(restarted.stdout);
  assert.equal(info.tenantId, before.tenantId);
  assert.equal(info.endpoints.resourceManager, before.endpoints.resourceManager, "ports are kept");
  const r = await runShell(`${podidEnv} && node test/e2e/fixtures/sdk-walkthrough.mjs e2e-walkthrough`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()).beforeAttach, "token", "the identity attached before the restart is still attached");
  const fresh = await runPodid(["sandbox", "start", "--dir", dir, "--fresh"]);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.notEqual(JSON.parse(fresh.stdout).tenantId, before.tenantId);
});

test("bad arguments are one-line usage errors with exit 2", async () => {
  const r = await runPodid(["sandbox", "start", "--dir", dir, "--nodes", "0"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ERROR: argument --nodes/);
  const env = await runPodid(["sandbox", "env", "--dir", join(dir, "nothing-here")]);
  assert.equal(env.code, 1);
  assert.match(env.stderr, /ERROR: no running sandbox .*\nStart it first: podid sandbox start/);
});

test("the clock moves forward at most 10 years ahead and the sandbox still issues tokens there; delays are numbers of seconds up to a day", async () => {
  const MAX = 315_360_000;
  const podid = (...args: string[]) => runPodid([...args, "--dir", dir, "-o", "json"]);
  const usage = async (args: string[], message: RegExp) => {
    const r = await podid(...args);
    assert.equal(r.code, 2, r.stderr);
    const [first, ...rest] = r.stderr.trimEnd().split("\n");
    assert.match(first, message);
    assert.ok(rest.length <= 1, `one line and a remedy: ${r.stderr}`);
  };
  await usage(["sandbox", "clock", "--advance", "99999999999999999999"], /^ERROR: argument --advance: 99999999999999999999 is more than 315360000 seconds$/);
  await usage(["sandbox", "clock", "--advance", ""], /^ERROR: argument --advance: '' is not a number of seconds$/);
  await usage(["sandbox", "settings", "--federation-delay", ""], /^ERROR: argument --federation-delay: '' is not a number of seconds$/);
  await usage(["sandbox", "settings", "--federation-delay", " "], /^ERROR: argument --federation-delay: ' ' is not a number of seconds$/);
  await usage(["sandbox", "settings", "--replication-delay", "86401"], /^ERROR: argument --replication-delay: 86401 is more than 86400 seconds$/);
  assert.equal(JSON.parse((await podid("sandbox", "clock")).stdout).offsetSeconds, 0, "nothing moved");
  assert.deepEqual(JSON.parse((await podid("sandbox", "settings")).stdout).federationDelaySeconds, 0, "nothing changed");

  try {
    const moved = await podid("sandbox", "clock", "--advance", String(MAX - 60));
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(JSON.parse(moved.stdout).offsetSeconds, MAX - 60);
    await usage(["sandbox", "clock", "--advance", "61"], /^ERROR: argument --advance: the sandbox clock runs at most 315360000 seconds \(10 years\) ahead of real time and is 315359940 ahead: advance it by at most 60$/);
    // At the limit, the API server still issues service-account tokens, dated on the sandbox clock.
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, "kubeconfig"));
    const answer = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ namespace: "default", name: "default", body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const claims = JSON.parse(Buffer.from(answer.status!.token.split(".")[1], "base64url").toString()) as { iat: number; exp: number };
    assert.equal(claims.exp - claims.iat, 600);
    assert.ok(claims.iat >= Math.floor(Date.now() / 1000) + MAX - 120, "issued on the sandbox clock");
  } finally {
    // Nothing turns the clock back but a fresh sandbox.
    const fresh = await runPodid(["sandbox", "start", "--dir", dir, "--fresh"]);
    assert.equal(fresh.code, 0, fresh.stderr);
  }
});
