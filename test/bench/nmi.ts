import { Agent, request } from "node:http";
import { startAzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture, TEST_NODES } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { attachedIdentities, NmiWorld } from "../helpers/nmi.js";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { CLI } from "../helpers/cli.js";
import { startChild } from "./process.js";
import { histogramQuantile, median, percentile, type Figure } from "./stats.js";

const CONCURRENCY = 16;
const WINDOW_MS = 2000;

/** GETs `url` from `agent` CONCURRENCY at a time for a fixed window: requests per second and per-request latencies (ms). */
async function load(url: string, agent: Agent): Promise<{ rps: number; latencies: number[] }> {
  const latencies: number[] = [];
  const until = Date.now() + WINDOW_MS;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const t = process.hrtime.bigint();
      const req = request(url, { agent, headers: { Metadata: "true" } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.resume();
        res.on("end", () => {
          latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
          resolve();
        });
      });
      req.on("error", reject);
      req.end();
    });
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) await once();
    }),
  );
  return { rps: latencies.length / (WINDOW_MS / 1000), latencies };
}

/** The bare baseline as a process of its own, as NMI is: a keep-alive HTTP server answering every request with `body`. */
const BARE_SERVER = `
const body = process.argv[1];
const server = require("node:http").createServer({ keepAlive: true }, (_req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, "127.0.0.1", () => console.log("listening on 127.0.0.1:" + server.address().port));
`;

/**
 * NMI's cached-token path (pod lookup by source address, assignment check, cache) against a bare Node HTTP
 * server that returns a fixed token, both over keep-alive connections from a pod address. Each server is a process
 * of its own, NMI as the DaemonSet runs it (\`podid runtime nmi\` of the built CLI); the load comes from this
 * process. Then how long a pod that is already asking waits once its AzureAssignedIdentity turns Assigned (the
 * watch, not a poll).
 */
export async function benchNmi(runs = 3): Promise<Figure[]> {
  const sb = await startAzureSandbox({ nodes: 1 });
  const kube = await startKubeFixture();
  const fixedBody = JSON.stringify({ access_token: "x".repeat(1200), refresh_token: "", expires_in: "3599", expires_on: "1900000000", not_before: "1800000000", resource: "r", token_type: "Bearer" });
  const fixed = await startChild(["-e", BARE_SERVER, fixedBody], /listening on 127\.0\.0\.1:(\d+)/);
  let nmiProcess: Awaited<ReturnType<typeof startChild>> | undefined;
  try {
    await applyShippedCrds(kube.kc);
    const node = TEST_NODES[0].name;
    const world = new NmiWorld(kube.kc, node);
    const [identity] = await attachedIdentities(sb, world, ["bench-nmi"]);
    const imds = new URL(sb.cloud.endpoints.imds[sb.seed.nodes[0].name]);
    nmiProcess = await startChild(
      [CLI, "runtime", "nmi", `--node=${node}`, `--kubeconfig=${kube.api.kubeconfigPath}`, "--nmi-listen-address=127.0.0.1", "--nmi-port=0", "--http-probe-port=0", "--prometheus-port=0", "--manage-iptables=false", "--network-plugin=azure", `--metadata-ip=${imds.hostname}`, `--metadata-port=${imds.port}`],
      /listening on 127\.0\.0\.1:(\d+)/,
    );
    const ip = "127.0.0.11";
    await world.pod("default", "bench-app", ip);
    await world.assign({ namespace: "default", name: "bench-app" }, identity.object, "Assigned");
    const resource = encodeURIComponent(sb.cloud.endpoints.armResourceId);
    const nmiUrl = `http://127.0.0.1:${nmiProcess.match[1]}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}`;
    const fixedUrl = `http://127.0.0.1:${fixed.match[1]}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}`;
    const agent = new Agent({ keepAlive: true, localAddress: ip, maxSockets: CONCURRENCY });
    await load(nmiUrl, agent); // warm: the first token comes from IMDS
    const rps: number[] = [];
    const baseRps: number[] = [];
    const lat: number[] = [];
    const baseLat: number[] = [];
    for (let i = 0; i < runs; i++) {
      const m = await load(nmiUrl, agent);
      const b = await load(fixedUrl, agent);
      rps.push(m.rps);
      baseRps.push(b.rps);
      lat.push(...m.latencies);
      baseLat.push(...b.latencies);
    }
    agent.destroy();
    const own = await ownLatencies(`http://127.0.0.1:${nmiProcess.match[1]}/metrics`);

    const firstToken: number[] = [];
    for (let i = 0; i < runs * 3; i++) {
      const name = `bench-early-${i}`;
      const podIp = `127.0.1.${i + 1}`;
      await world.pod("default", name, podIp);
      const aai = await world.assign({ namespace: "default", name }, identity.object, "Created");
      let assignedAt = 0;
      const answered = new Promise<number>((resolve, reject) => {
        const req = request(nmiUrl, { localAddress: podIp, agent: false, headers: { Metadata: "true" } }, (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 200 ? resolve(Date.now()) : reject(new Error(`status ${res.statusCode}`))));
        });
        req.on("error", reject);
        req.end();
      });
      await new Promise((r) => setTimeout(r, 200));
      assignedAt = Date.now();
      await world.setAssignedStatus(aai, "Assigned");
      firstToken.push((await answered) - assignedAt);
    }
    return [
      { name: `NMI cached token, ${CONCURRENCY} concurrent keep-alive`, unit: "req/s", value: median(rps), runs, baseline: { name: "bare HTTP server, fixed token", value: median(baseRps) } },
      { name: "NMI cached token latency p50", unit: "ms", value: percentile(lat, 50), runs, baseline: { name: "bare HTTP server", value: percentile(baseLat, 50) } },
      { name: "NMI cached token latency p99", unit: "ms", value: percentile(lat, 99), runs, baseline: { name: "bare HTTP server", value: percentile(baseLat, 99) } },
      { name: "NMI's own histogram, token route p50", unit: "ms", value: own.p50, runs, baseline: { name: "the same requests seen by the client", value: percentile(lat, 50) } },
      { name: "NMI's own histogram, token route p99", unit: "ms", value: own.p99, runs, baseline: { name: "the same requests seen by the client", value: percentile(lat, 99) } },
      { name: "NMI answer after the assignment turns Assigned (waiting pod)", unit: "ms", value: median(firstToken), runs: firstToken.length, baseline: { name: "upstream poll interval", value: 5000 } },
      await idleRss(kube.api.kubeconfigPath, node, runs),
    ];
  } finally {
    await nmiProcess?.stop();
    await fixed.stop();
    await kube.stop();
    await sb.close();
  }
}

/** p50 and p99 (ms) of NMI's answered token requests, from its own nmi_operations_duration_seconds histogram. */
async function ownLatencies(metricsUrl: string): Promise<{ p50: number; p99: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const counts = new Map<number, number>();
  for (const m of text.matchAll(/^aadpodidentity_nmi_operations_duration_seconds_bucket\{([^}]*)\} (\d+)$/gm)) {
    if (!/status_code="200"/.test(m[1])) continue;
    const le = /le="([^"]+)"/.exec(m[1])![1];
    const bound = le === "+Inf" ? Infinity : Number(le);
    counts.set(bound, (counts.get(bound) ?? 0) + Number(m[2]));
  }
  const buckets = [...counts].map(([le, count]) => ({ le, count }));
  return { p50: histogramQuantile(0.5, buckets) * 1000, p99: histogramQuantile(0.99, buckets) * 1000 };
}

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;

/** RSS of a process started with `args`, once it printed `ready` and sat idle for a while (MiB). */
async function settledRss(args: string[], ready: RegExp): Promise<number> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  try {
    await new Promise<void>((resolve, reject) => {
      let seen = "";
      const look = (d: Buffer) => {
        seen += d;
        if (ready.test(seen)) resolve();
      };
      child.stdout!.on("data", look);
      child.stderr!.on("data", look);
      child.once("exit", (code) => reject(new Error(`exited with ${code} before it was ready: ${seen.slice(-500)}`)));
    });
    await sleep(3000);
    return rssMiB(child.pid!);
  } finally {
    child.kill("SIGKILL");
  }
}

/** `podid runtime nmi` as the DaemonSet runs it (its caches synced, serving), idle, against a bare Node process. */
async function idleRss(kubeconfig: string, node: string, runs: number): Promise<Figure> {
  const nmi: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    nmi.push(await settledRss([CLI, "runtime", "nmi", `--node=${node}`, `--kubeconfig=${kubeconfig}`, "--nmi-listen-address=127.0.0.1", "--nmi-port=0", "--http-probe-port=0", "--prometheus-port=0", "--manage-iptables=false", "--network-plugin=azure"], /listening on /));
    bare.push(await settledRss(["-e", "console.log('ready'); setInterval(() => {}, 1000)"], /ready/));
  }
  return { name: "NMI idle RSS (podid runtime nmi, caches synced)", unit: "MiB", value: median(nmi), runs, baseline: { name: "an idle bare node process", value: median(bare) } };
}
