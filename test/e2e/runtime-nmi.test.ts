import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { decodeJwt } from "jose";
import { startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture, TEST_NODES, type KubeFixture } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { CLI, REPO_ROOT, runPodid } from "../helpers/cli.js";
import { attachedIdentities, getFrom, NmiWorld } from "../helpers/nmi.js";

/**
 * `podid runtime nmi` as the DaemonSet runs it: the built CLI with upstream's flags, against the sandbox cluster
 * and one node's IMDS (as --metadata-ip/--metadata-port), without iptables (--manage-iptables=false; the
 * interception path has its own test). It serves a pod its identity, and exits cleanly on SIGTERM.
 */
let sb: AzureSandbox;
let kube: KubeFixture;
let child: ChildProcess | undefined;
before(async () => {
  sb = await startAzureSandbox({ nodes: 1 });
  kube = await startKubeFixture();
  await applyShippedCrds(kube.kc);
});
after(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await kube?.stop();
  await sb?.close();
});

test("podid runtime nmi serves a pod its own identity and exits 0 on SIGTERM", async () => {
  const node = TEST_NODES[0].name;
  const world = new NmiWorld(kube.kc, node);
  const [created] = await attachedIdentities(sb, world, ["cli-nmi"]);
  const ip = "127.0.0.31";
  await world.pod("default", "cli-app", ip);
  await world.assign({ namespace: "default", name: "cli-app" }, created.object, "Assigned");

  const imds = new URL(sb.cloud.endpoints.imds[sb.seed.nodes[0].name]);
  const args = ["runtime", "nmi", "--nmi-port=0", `--metadata-ip=${imds.hostname}`, `--metadata-port=${imds.port}`, "--http-probe-port=0", "--prometheus-port=0", "--manage-iptables=false", "--network-plugin=azure", `--kubeconfig=${kube.api.kubeconfigPath}`];
  child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NODE_NAME: node, NO_COLOR: "1" }, cwd: REPO_ROOT });
  let stderr = "";
  const port = await new Promise<number>((resolve, reject) => {
    child!.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    child!.on("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const res = await getFrom(ip, `http://127.0.0.1:${port}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(sb.cloud.endpoints.armResourceId)}`, { Metadata: "true" });
  assert.equal(res.status, 200, res.text);
  assert.equal(decodeJwt(res.json.access_token).appid, created.clientId);

  const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /received SIGTERM, shutting down/);
  assert.ok(!stderr.includes(res.json.access_token), "no token in the log");
});

test("podid runtime nmi refuses kubenet unless allowed, and needs a node name", async () => {
  const kubenet = await runPodid(["runtime", "nmi", "--node=n1", "--network-plugin=kubenet"]);
  assert.equal(kubenet.code, 1);
  assert.match(kubenet.stderr, /AAD Pod Identity is not supported for Kubenet/);
  const noNode = await runPodid(["runtime", "nmi"], { env: { NODE_NAME: "" } });
  assert.equal(noNode.code, 2);
  assert.match(noNode.stderr, /NMI needs the node name/);
});
