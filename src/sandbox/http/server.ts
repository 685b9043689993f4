import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { DROP_CONNECTION, isReadable, type Handler, type SandboxRequest, type SandboxResponse } from "./types.js";

export interface TlsMaterial {
  cert: string;
  key: string;
}

export interface ServeOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  tls?: TlsMaterial;
  /** Requests larger than this are refused with 413 before the handler runs. */
  maxBodyBytes?: number;
  /**
   * Called for every request received (sandbox log), answered or not (status 0: the client went away first; a
   * request the HTTP parser refused has method "-"); never given bodies. `target` is the request-target as sent.
   */
  onRequest?: (line: RequestLine) => void;
  /** Turns an exception thrown by a handler into the service's own 500 body. */
  onError: (err: unknown, req: SandboxRequest) => SandboxResponse;
}

export interface RequestLine {
  method: string;
  path: string;
  target: string;
  status: number;
  ms: number;
  remote: string;
}

/** One line of the sandbox log: `<service> <METHOD> <path> <status> <ms>ms from <caller>` (and the raw target where asked). */
export function requestLogLine(service: string, l: RequestLine, withTarget = false): string {
  return `${service} ${l.method} ${l.path} ${l.status} ${l.ms}ms from ${l.remote}${withTarget ? ` target ${JSON.stringify(l.target)}` : ""}`;
}

export interface RunningServer {
  port: number;
  host: string;
  url: string;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(res: http.ServerResponse, out: SandboxResponse, controller: AbortController): void {
  const headers: Record<string, string | string[]> = { ...(out.headers ?? {}) };
  const body = out.body;
  if (isReadable(body)) {
    res.writeHead(out.status, headers);
    res.flushHeaders();
    body.pipe(res);
    res.on("close", () => {
      controller.abort();
      body.destroy();
    });
    return;
  }
  let payload: Buffer | undefined;
  if (body === undefined || body === null) payload = undefined;
  else if (Buffer.isBuffer(body)) payload = body;
  else if (typeof body === "string") payload = Buffer.from(body);
  else {
    payload = Buffer.from(JSON.stringify(body));
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      headers["content-type"] = "application/json; charset=utf-8";
    }
  }
  if (payload) headers["content-length"] = String(payload.length);
  res.writeHead(out.status, headers);
  res.end(payload);
}

/**
 * The request-target in origin form: an absolute-form target ("http://host/path?q", which HTTP/1.1 servers must
 * accept) loses its scheme and authority, as a server that is the origin for every authority treats it.
 */
export function originForm(target: string): string {
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (!absolute) return target;
  const rest = target.slice(absolute[0].length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/** Serves one emulated service on one port. Keeps connections tracked so close() is prompt. */
export async function serve(handler: Handler, options: ServeOptions): Promise<RunningServer> {
  const listener = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = Date.now();
    const controller = new AbortController();
    res.on("close", () => controller.abort());
    // Concatenated, not resolved: a path like "//subscriptions/x" (an endpoint with a trailing slash) is a path.
    const url = new URL(`http://sandbox.invalid${originForm(req.url ?? "/")}`);
    const body = await readBody(req, options.maxBodyBytes ?? DEFAULT_MAX_BODY).catch(() => Buffer.alloc(0));
    const request: SandboxRequest = {
      method: (req.method ?? "GET").toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: body ?? Buffer.alloc(0),
      remoteAddress: (req.socket.remoteAddress ?? "").replace(/^::ffff:/, ""),
      localPort: req.socket.localPort ?? 0,
      params: {},
      signal: controller.signal,
    };
    let out: SandboxResponse;
    if (body === undefined) {
      out = { status: 413, body: "request entity too large" };
    } else {
      try {
        out = await handler(request);
      } catch (err) {
        out = options.onError(err, request);
      }
    }
    const line = { method: request.method, path: request.path, target: req.url ?? "", ms: Date.now() - started, remote: request.remoteAddress };
    if (res.destroyed || out === DROP_CONNECTION) {
      if (out === DROP_CONNECTION) req.socket.destroy();
      options.onRequest?.({ ...line, status: 0 });
      return;
    }
    send(res, out, controller);
    options.onRequest?.({ ...line, status: out.status });
  };
  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, (q, s) => void listener(q, s))
    : http.createServer((q, s) => void listener(q, s));
  server.keepAliveTimeout = 5000;
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code !== "ECONNRESET") options.onRequest?.({ method: "-", path: "-", target: "-", status: 400, ms: 0, remote: (socket.remoteAddress ?? "").replace(/^::ffff:/, "") });
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? "https" : "http";
  return {
    port,
    host: options.host,
    url: `${scheme}://${options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
