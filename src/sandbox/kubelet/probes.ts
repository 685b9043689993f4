import { request } from "node:http";
import net from "node:net";

/** Readiness and liveness probes as the kubelet runs them: httpGet and tcpSocket against the pod's IP. */

export interface ProbeSpec {
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export type ContainerPort = { name?: string; containerPort: number };

function portOf(port: number | string, ports: ContainerPort[]): number | undefined {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

function httpProbe(spec: NonNullable<ProbeSpec["httpGet"]>, ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { "user-agent": "kube-probe/1.32" };
    for (const h of spec.httpHeaders ?? []) headers[h.name] = h.value;
    const req = request({ host: spec.host ?? ip, port, path: spec.path ?? "/", method: "GET", headers, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => socket.destroy());
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(false));
  });
}

/** Whether one probe attempt succeeds. exec probes cannot run without a container: they count as succeeding. */
export async function probeOnce(spec: ProbeSpec, ip: string, ports: ContainerPort[]): Promise<boolean> {
  const timeoutMs = (spec.timeoutSeconds ?? 1) * 1000;
  if (spec.httpGet) {
    const port = portOf(spec.httpGet.port, ports);
    return port !== undefined && httpProbe(spec.httpGet, ip, port, timeoutMs);
  }
  if (spec.tcpSocket) {
    const port = portOf(spec.tcpSocket.port, ports);
    return port !== undefined && tcpProbe(spec.tcpSocket.host ?? ip, port, timeoutMs);
  }
  return true;
}

/**
 * Runs a probe every periodSeconds after initialDelaySeconds and reports when its result flips, after
 * successThreshold successes or failureThreshold failures in a row.
 */
export class Prober {
  private timer: NodeJS.Timeout | undefined;
  private successes = 0;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly spec: ProbeSpec,
    private readonly ip: string,
    private readonly ports: ContainerPort[],
    private result: boolean,
    private readonly onChange: (ok: boolean) => void,
  ) {}

  start(): void {
    this.timer = setTimeout(() => void this.tick(), (this.spec.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const ok = await probeOnce(this.spec, this.ip, this.ports);
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (!this.result && this.successes >= (this.spec.successThreshold ?? 1)) this.flip(true);
    } else {
      this.successes = 0;
      this.failures++;
      if (this.result && this.failures >= (this.spec.failureThreshold ?? 3)) this.flip(false);
    }
    this.timer = setTimeout(() => void this.tick(), (this.spec.periodSeconds ?? 10) * 1000);
  }

  private flip(ok: boolean): void {
    this.result = ok;
    this.onChange(ok);
  }
}
