import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { Transform } from "node:stream";
import type { KubeEndpoint } from "../../src/kube/lite/endpoint.js";

/**
 * A plain-HTTP hop in front of an API server that can hold back what watches stream (never the other requests), or
 * stop answering altogether: how a test makes a client's cache lag, or its API server vanish, deterministically.
 */
export interface WatchGate {
  /** The endpoint to give the client under test: this hop, with the real server's credential. */
  endpoint: KubeEndpoint;
  /** Watch events stop reaching the client (they wait here, in order). */
  hold(): void;
  /** Everything held is delivered, and watches flow again. */
  release(): void;
  /** As a partition: watches are held and no new request is answered (until close). */
  stall(): void;
  close(): Promise<void>;
}

export async function startWatchGate(target: KubeEndpoint): Promise<WatchGate> {
  const upstream = new URL(target.server);
  let holding = false;
  let stalled = false;
  const gates = new Set<{ flush: () => void }>();
  const server: Server = createServer((req, res) => {
    if (stalled) return;
    const isWatch = /[?&]watch=(true|1)(&|$)/.test(req.url ?? "");
    const headers = { ...req.headers, host: upstream.host };
    const out = httpsRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, ca: target.ca, cert: target.cert, key: target.key }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (!isWatch) return void answer.pipe(res);
      const held: Buffer[] = [];
      let push: ((chunk: Buffer) => void) | undefined;
      const gate = new Transform({
        transform(chunk: Buffer, _enc, done) {
          push = (c) => this.push(c);
          if (holding) held.push(chunk);
          else this.push(chunk);
          done();
        },
      });
      const entry = { flush: () => held.splice(0).forEach((c) => push?.(c)) };
      gates.add(entry);
      res.on("close", () => gates.delete(entry));
      answer.pipe(gate).pipe(res);
    });
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: { ...target, server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
    hold: () => void (holding = true),
    stall() {
      holding = true;
      stalled = true;
    },
    release() {
      holding = false;
      for (const g of gates) g.flush();
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
