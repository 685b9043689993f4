import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { decodeJwt } from "jose";

/**
 * The real interception path: network namespaces for a node and two pods, joined by veth pairs; NMI runs in the
 * node namespace and installs its iptables rules there; the pods call 169.254.169.254:80 with plain HTTP.
 * Everything lives inside the namespaces this file creates and deletes.
 */
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip =
  process.getuid?.() !== 0
    ? "needs root to create network namespaces and iptables rules (CI runs as root)"
    : !has("ip") || !has("iptables")
      ? "needs iproute2 and iptables (.ci/run installs them)"
      : spawnSync("ip", ["netns", "add", "podid-nmi-probe"]).status !== 0
        ? "cannot create network namespaces here (ip netns add failed)"
        : false;
if (!skip) spawnSync("ip", ["netns", "del", "podid-nmi-probe"]);
if (skip) console.log(`# nmi-iptables: skipped: ${skip}`);

const id = Math.floor(Math.random() * 200) + 20;
const ns = { node: `podid-node-${id}`, pod1: `podid-pod1-${id}`, pod2: `podid-pod2-${id}` };
const hostIp = `10.244.${id}.1`;
const pod1Ip = `10.244.${id}.2`;
const pod2Gw = `10.244.${id}.5`;
const pod2Ip = `10.244.${id}.6`;
const sh = (...args: string[]) => execFileSync(args[0], args.slice(1), { stdio: ["ignore", "pipe", "pipe"] }).toString();
const inNs = (name: string, ...args: string[]) => spawnSync("ip", ["netns", "exec", name, ...args], { encoding: "utf8", timeout: 30_000 });

let child: ChildProcess | undefined;
let lines: AsyncIterator<string>;
let ready: { a: string; b: string; resource: string };

async function nextJson(): Promise<Record<string, unknown>> {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error("the node process ended early");
    try {
      return JSON.parse(value) as Record<string, unknown>;
    } catch {
      /* not ours */
    }
  }
}

/** A plain HTTP GET from inside a pod namespace, with Node (no SDK): {status, body}. */
function getFromPod(pod: string, path: string, headers: Record<string, string> = { Metadata: "true" }, timeoutMs = 10_000): { status: number; body: string } {
  const script = `require("http").get({host:"169.254.169.254",port:80,path:${JSON.stringify(path)},headers:${JSON.stringify(headers)},timeout:${timeoutMs}},(r)=>{let b="";r.on("data",(c)=>b+=c);r.on("end",()=>{process.stdout.write(JSON.stringify({status:r.statusCode,body:b}))})}).on("timeout",function(){this.destroy(new Error("timeout"))}).on("error",(e)=>{process.stdout.write(JSON.stringify({status:0,body:e.message}))})`;
  const r = inNs(pod, process.execPath, "-e", script);
  return JSON.parse(r.stdout || `{"status":0,"body":${JSON.stringify(r.stderr)}}`) as { status: number; body: string };
}

before(async () => {
  if (skip) return;
  for (const name of Object.values(ns)) sh("ip", "netns", "add", name);
  sh("ip", "-n", ns.node, "link", "set", "lo", "up");
  const pairs: [string, string, string, string][] = [
    [ns.pod1, `${hostIp}/30`, `${pod1Ip}/30`, hostIp],
    [ns.pod2, `${pod2Gw}/30`, `${pod2Ip}/30`, pod2Gw],
  ];
  for (const [i, [pod, nodeAddr, podAddr, gw]] of pairs.entries()) {
    const [n, p] = [`vn${i}-${id}`, `vp${i}-${id}`];
    sh("ip", "link", "add", n, "netns", ns.node, "type", "veth", "peer", "name", p, "netns", pod);
    sh("ip", "-n", ns.node, "addr", "add", nodeAddr, "dev", n);
    sh("ip", "-n", ns.node, "link", "set", n, "up");
    sh("ip", "-n", pod, "addr", "add", podAddr, "dev", p);
    sh("ip", "-n", pod, "link", "set", p, "up");
    sh("ip", "-n", pod, "link", "set", "lo", "up");
    sh("ip", "-n", pod, "route", "add", "default", "via", gw);
  }
  const script = fileURLToPath(new URL("../helpers/nmi-netns-node.ts", import.meta.url));
  child = spawn("ip", ["netns", "exec", ns.node, process.execPath, "--import", "tsx", script], {
    env: { ...process.env, HOST_IP: hostIp, POD1_IP: pod1Ip, POD2_IP: pod2Ip },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr!.on("data", (c: Buffer) => stderr.push(c.toString()));
  lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  try {
    ready = (await nextJson()) as typeof ready;
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${stderr.join("")}`);
  }
});

after(async () => {
  if (skip) return;
  if (child && child.exitCode === null) child.kill("SIGKILL");
  for (const name of Object.values(ns)) spawnSync("ip", ["netns", "del", name]);
});

test("a pod's plain HTTP call to 169.254.169.254 reaches NMI, which answers for that pod's identity only; rules go with NMI", { skip }, async () => {
  const listed = inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-S", "aad-metadata").stdout.trim().split("\n");
  assert.deepEqual(listed, [
    "-N aad-metadata",
    `-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination ${hostIp}:2579`,
    "-A aad-metadata -j RETURN",
  ]);
  assert.equal(inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-C", "PREROUTING", "-j", "aad-metadata").status, 0);

  const probe = getFromPod(ns.pod1, "/metadata/identity/oauth2/token", {});
  assert.equal(probe.status, 400, probe.body);
  assert.deepEqual(JSON.parse(probe.body), { error: "invalid_request", error_description: "Required metadata header not specified" });

  const q = (extra: Record<string, string> = {}) => `/metadata/identity/oauth2/token?${new URLSearchParams({ "api-version": "2018-02-01", resource: ready.resource, ...extra })}`;
  const own1 = getFromPod(ns.pod1, q());
  assert.equal(own1.status, 200, own1.body);
  assert.equal(decodeJwt(JSON.parse(own1.body).access_token).appid, ready.a);
  const own2 = getFromPod(ns.pod2, q());
  assert.equal(own2.status, 200, own2.body);
  assert.equal(decodeJwt(JSON.parse(own2.body).access_token).appid, ready.b, "NMI tells the pods apart by source address");
  const stolen = getFromPod(ns.pod1, q({ client_id: ready.b }));
  assert.equal(stolen.status, 404, stolen.body);
  assert.ok(!stolen.body.includes("access_token"));

  child!.stdin!.write("stop\n");
  assert.deepEqual(await nextJson(), { stopped: true });
  const gone = inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-S", "aad-metadata");
  assert.notEqual(gone.status, 0, "the chain is gone");
  assert.notEqual(inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-C", "PREROUTING", "-j", "aad-metadata").status, 0, "and so is the jump");
  assert.equal(getFromPod(ns.pod1, q(), { Metadata: "true" }, 1000).status, 0, "nothing answers for the metadata address any more");
});
