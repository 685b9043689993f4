import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { healthText } from "../aadpodidentity/contract/messages.js";
import type { Registry } from "../util/prometheus.js";
import { retry } from "../util/retry.js";

/** The /healthz and /metrics listeners MIC and NMI share (upstream's --http-probe-port and --prometheus-port). */

/** Prometheus text of the registry, as /metrics answers it. */
export async function answerMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  const body = await registry.metrics();
  res.writeHead(200, { "Content-Type": registry.contentType, "Content-Length": Buffer.byteLength(body) }).end(body);
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("404 page not found\n");
}

export interface ProbeServers {
  /** Bound ports, when served. */
  probePort?: number;
  metricsPort?: number;
  close(): Promise<void>;
}

/**
 * Listens; rejects (and listens nowhere) when the port cannot be had. A port in use is asked for again until
 * `busyWaitMs` has passed: a host-network DaemonSet's new pod may start while the pod it replaces is still
 * terminating (its grace period) and holds the port; crashing would only add the kubelet's restart back-off.
 */
export async function listenOn(server: Server, port: number, host: string | undefined, busyWaitMs = 0): Promise<void> {
  await retry(() => listenOnce(server, port, host), {
    retryable: (err) => (err as NodeJS.ErrnoException).code === "EADDRINUSE",
    maxElapsedMs: busyWaitMs,
    initialDelayMs: 100,
    maxDelayMs: 2_000,
  });
}

/** A host-network pod's predecessor ends within the kubelet's default termination grace period. */
export const PORT_BUSY_WAIT_MS = 30_000;

const listenOnce = (server: Server, port: number, host: string | undefined): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });

/** Stops listening and ends the connections still open. */
export const closeServer = (server: Server): Promise<void> =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/**
 * /healthz answers 200 with "Active" or "Not Active" (upstream's words: the component is doing its job, or not yet);
 * /metrics the registry; anything else 404. A port left undefined serves nothing; 0 picks a free one.
 */
export async function startProbeServers(input: { probePort?: number; metricsPort?: number; host?: string; healthy: () => boolean; registry: Registry }): Promise<ProbeServers> {
  const servers: Server[] = [];
  const serve = async (port: number | undefined, route: string, answer: (res: ServerResponse) => void | Promise<void>) => {
    if (port === undefined) return undefined;
    const server = createServer((req, res) => {
      if (new URL(req.url ?? "/", "http://x").pathname !== route) return notFound(res);
      Promise.resolve(answer(res)).catch(() => res.destroy());
    });
    servers.push(server);
    await listenOn(server, port, input.host, PORT_BUSY_WAIT_MS);
    return (server.address() as AddressInfo).port;
  };
  const close = () => Promise.all(servers.map(closeServer)).then(() => undefined);
  try {
    const probePort = await serve(input.probePort, "/healthz", (res) => void res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" }).end(healthText(input.healthy())));
    const metricsPort = await serve(input.metricsPort, "/metrics", (res) => answerMetrics(res, input.registry));
    return { probePort, metricsPort, close };
  } catch (err) {
    await close();
    throw err;
  }
}
