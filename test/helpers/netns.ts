import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";

/**
 * Network namespaces for NMI's interception path: one "node" namespace and one namespace per pod, each pod joined
 * to the node by a veth pair on its own /30 (the node side is the pod's gateway; the first one is the node's
 * address, where NMI listens). Everything is created and removed by the test that asks for it.
 */
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root to create network namespaces and iptables rules (CI runs as root)";
  if (!has("ip") || !has("iptables")) return "needs iproute2 and iptables (.ci/run installs them)";
  const probe = `podid-probe-${process.pid}`;
  if (spawnSync("ip", ["netns", "add", probe]).status !== 0) return "cannot create network namespaces here (ip netns add failed)";
  spawnSync("ip", ["netns", "del", probe]);
  return false;
}

/** Why namespaces cannot be made here (the test is skipped with it), or false. */
export const NETNS_SKIP: string | false = skipReason();

export interface PodNamespace {
  /** The network namespace's name. */
  ns: string;
  /** The pod's address. */
  ip: string;
}

export interface Topology {
  node: string;
  /** The node's address (the node side of the first pod's pair): NMI listens and DNATs here. */
  hostIp: string;
  pods: PodNamespace[];
  remove(): void;
}

const sh = (...args: string[]) => execFileSync(args[0], args.slice(1), { stdio: ["ignore", "pipe", "pipe"] }).toString();

export const inNs = (name: string, ...args: string[]): SpawnSyncReturns<string> => spawnSync("ip", ["netns", "exec", name, ...args], { encoding: "utf8", timeout: 60_000 });

/** A node namespace and `count` pod namespaces (at most 60), named with a random id so runs do not collide. */
export function createTopology(count: number): Topology {
  const id = Math.floor(Math.random() * 200) + 20;
  const node = `podid-node-${id}`;
  const pods: PodNamespace[] = [];
  const made: string[] = [];
  const remove = () => {
    for (const name of made) spawnSync("ip", ["netns", "del", name]);
  };
  try {
    sh("ip", "netns", "add", node);
    made.push(node);
    sh("ip", "-n", node, "link", "set", "lo", "up");
    for (let i = 0; i < count; i++) {
      const ns = `podid-pod${i}-${id}`;
      const gw = `10.244.${id}.${4 * i + 1}`;
      const ip = `10.244.${id}.${4 * i + 2}`;
      sh("ip", "netns", "add", ns);
      made.push(ns);
      const [n, p] = [`vn${i}-${id}`, `vp${i}-${id}`];
      sh("ip", "link", "add", n, "netns", node, "type", "veth", "peer", "name", p, "netns", ns);
      sh("ip", "-n", node, "addr", "add", `${gw}/30`, "dev", n);
      sh("ip", "-n", node, "link", "set", n, "up");
      sh("ip", "-n", ns, "addr", "add", `${ip}/30`, "dev", p);
      sh("ip", "-n", ns, "link", "set", p, "up");
      sh("ip", "-n", ns, "link", "set", "lo", "up");
      sh("ip", "-n", ns, "route", "add", "default", "via", gw);
      pods.push({ ns, ip });
    }
  } catch (err) {
    remove();
    throw err;
  }
  return { node, hostIp: `10.244.${id}.1`, pods, remove };
}
