import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { NmiOptions } from "../../src/runtime/nmi/options.js";
import type { Topology } from "./netns.js";

/**
 * The test side of NMI in network namespaces: a "node" process (nmi-netns-node.ts, run inside the node namespace)
 * that starts a sandbox cloud and cluster, the scenario's objects and NMI with its real iptables redirect; and raw
 * TCP clients inside pod namespaces (netns-raw-client.ts).
 */

/** A pod of the scenario; `pod` is the index of its namespace in the topology. */
export interface ScenarioPod {
  pod: number;
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  /** The AzureIdentity (by name) assigned to it, Assigned. */
  identity?: string;
  /** Owned by a ReplicaSet of a Deployment (created with it); `forgedUid` makes the reference name it with a wrong uid. */
  owner?: { deployment: string; replicaSet: string; forgedUid?: boolean };
}

export interface NetnsScenario {
  /** User-assigned identities attached to the node, each with an AzureIdentity of the same name in default. */
  identities: string[];
  /** Attached to the node with no AzureIdentity (as the kubelet identity). */
  nodeOnlyIdentities?: string[];
  /** More AzureIdentities for the same Azure identities: {name, namespace, of, annotations}. */
  aliases?: { name: string; namespace: string; of: string; annotations?: Record<string, string> }[];
  namespaces?: string[];
  exceptions?: { namespace: string; name: string; podLabels: Record<string, string> }[];
  pods: ScenarioPod[];
  nmi?: Partial<NmiOptions>;
}

export interface IdentityInfo {
  clientId: string;
  id: string;
  principalId: string;
}

export interface Ready {
  identities: Record<string, IdentityInfo>;
  resource: string;
}

/** What the node logged between two marks: IMDS's request lines and NMI's log lines. */
export interface Window {
  imds: string[];
  nmi: string[];
}

export interface NetnsNode {
  ready: Ready;
  /** Everything the node logged since the previous mark (all of it written before this mark was echoed). */
  mark(): Promise<Window>;
  /** Stops NMI (which removes its rules); the node process then ends. */
  stop(): Promise<void>;
  kill(): void;
  /** NMI's and the sandbox's stderr so far (for failure messages). */
  stderr(): string;
}

export async function startNetnsNode(topology: Topology, scenario: NetnsScenario): Promise<NetnsNode> {
  const script = fileURLToPath(new URL("./nmi-netns-node.ts", import.meta.url));
  const podIps = topology.pods.map((p) => p.ip);
  const child: ChildProcess = spawn("ip", ["netns", "exec", topology.node, process.execPath, "--import", "tsx", script], {
    env: { ...process.env, HOST_IP: topology.hostIp, POD_IPS: JSON.stringify(podIps), SCENARIO: JSON.stringify(scenario) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr!.on("data", (c: Buffer) => stderr.push(c.toString()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  let window: Window = { imds: [], nmi: [] };
  let marks = 0;
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`the node process ended early: ${stderr.join("")}`);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(value) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof parsed.imds === "string") window.imds.push(parsed.imds);
      else if (typeof parsed.nmi === "string") window.nmi.push(parsed.nmi);
      else return parsed;
    }
  };
  const first = await next();
  if (!first.ready) throw new Error(`unexpected first line ${JSON.stringify(first)}: ${stderr.join("")}`);
  window = { imds: [], nmi: [] };
  return {
    ready: first as unknown as Ready,
    async mark() {
      const n = ++marks;
      child.stdin!.write(JSON.stringify({ mark: n }) + "\n");
      for (;;) {
        const m = await next();
        if (m.mark === n) break;
      }
      const seen = window;
      window = { imds: [], nmi: [] };
      return seen;
    },
    async stop() {
      child.stdin!.write(JSON.stringify({ stop: true }) + "\n");
      for (;;) if ((await next()).stopped) break;
    },
    kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
    stderr: () => stderr.join(""),
  };
}

/** One HTTP/1.x response read off the wire. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The whole body has arrived (by its Content-Length or the last chunk); a body read to the end never is. */
  complete: boolean;
}

/** The responses in a byte stream, in order (Content-Length, chunked, or to the end). */
export function parseResponses(buf: Buffer): WireResponse[] {
  const out: WireResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const [statusLine, ...headerLines] = buf.subarray(at, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const l of headerLines) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    at = end + 4;
    let body: Buffer;
    let complete = false;
    if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      body = buf.subarray(at, at + n);
      complete = body.length === n;
      at += n;
    } else if ((headers["transfer-encoding"] ?? "").toLowerCase() === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buf.indexOf("\r\n", at);
        if (lineEnd < 0) break;
        const size = parseInt(buf.subarray(at, lineEnd).toString("latin1"), 16);
        at = lineEnd + 2;
        if (!size) {
          at += 2;
          complete = true;
          break;
        }
        parts.push(buf.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = buf.subarray(at);
      at = buf.length;
    }
    out.push({ status, headers, body: body.toString("utf8"), complete });
  }
  return out;
}

export interface RawExchange {
  /** Every byte the server sent, as latin1 text. */
  raw: string;
  responses: WireResponse[];
  closed: "complete" | "server" | "timeout";
  error?: string;
}

export interface RawClient {
  /** Sends the bytes and waits for `responses` responses (default 1; 0: until the server closes), the close, or the timeout. */
  send(data: string | Buffer, options?: { host?: string; port?: number; responses?: number; timeoutMs?: number }): Promise<RawExchange>;
  close(): void;
}

/** A raw TCP client living in a pod's namespace; requests go to the metadata address unless told otherwise. */
export function startRawClient(ns: string): RawClient {
  const script = fileURLToPath(new URL("./netns-raw-client.ts", import.meta.url));
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, "--import", "tsx", script], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = new Map<number, (r: { data: string; closed: RawExchange["closed"]; error?: string }) => void>();
  let ids = 0;
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const r = JSON.parse(line) as { id: number; data: string; closed: RawExchange["closed"]; error?: string };
    waiting.get(r.id)?.(r);
    waiting.delete(r.id);
  });
  return {
    send(data, options = {}) {
      const id = ++ids;
      const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
      return new Promise((resolve) => {
        waiting.set(id, (r) => {
          const buf = Buffer.from(r.data, "base64");
          resolve({ raw: buf.toString("latin1"), responses: parseResponses(buf), closed: r.closed, error: r.error });
        });
        child.stdin!.write(JSON.stringify({ id, host: options.host ?? "169.254.169.254", port: options.port ?? 80, data: bytes.toString("base64"), responses: options.responses ?? 1, timeoutMs: options.timeoutMs }) + "\n");
      });
    },
    close() {
      child.stdin!.end();
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
