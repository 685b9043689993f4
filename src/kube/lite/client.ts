import { request as httpsRequest, Agent as HttpsAgent } from "node:https";
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from "node:http";
import type { KubeEndpoint } from "./endpoint.js";

/** A Kubernetes `Status` failure as the API server sent it (code, reason, message). */
export class LiteKubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "LiteKubeError";
  }
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export type Query = Record<string, string | number | boolean | undefined>;

/** A GET or LIST page that has not answered in this long failed (a partitioned API server must not hang callers). */
const REQUEST_TIMEOUT_MS = 10_000;
/** A watch that has sent nothing (no event, no bookmark) for this long is presumed dead and restarted. */
const WATCH_IDLE_MS = 90_000;
/** Server-side watch length: the API server ends the watch after this; the client re-watches from its version. */
const WATCH_SECONDS = 60;

/**
 * The few API calls a node agent makes — GET an object, LIST, WATCH as a stream of JSON lines, and creating or
 * merge-patching its Events — over one keep-alive agent. JSON in, JSON out; no generated models.
 */
export class LiteKubeClient {
  private readonly url: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  private readonly requestTimeoutMs: number;

  /** `requestTimeoutMs`: how long a GET or a LIST page may go unanswered (default 10 s). */
  constructor(
    readonly endpoint: KubeEndpoint,
    options: { requestTimeoutMs?: number } = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    this.url = new URL(endpoint.server);
    const tls = { ca: endpoint.ca, cert: endpoint.cert, key: endpoint.key, rejectUnauthorized: !endpoint.insecureSkipTlsVerify };
    this.agent = this.url.protocol === "https:" ? new HttpsAgent({ keepAlive: true, ...tls }) : new HttpAgent({ keepAlive: true });
  }

  get server(): string {
    return this.endpoint.server;
  }

  /** Opens the request; `idleMs` bounds silence on the socket (until the headers for a GET, for the whole stream on a watch). */
  private open(path: string, query: Query, signal: AbortSignal | undefined, idleMs: number, write?: { method: "POST" | "PATCH"; contentType: string; body: unknown }): Promise<IncomingMessage> {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") search.set(k, String(v));
    const token = this.endpoint.token?.();
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "podid" };
    if (token) headers.authorization = `Bearer ${token}`;
    const body = write ? JSON.stringify(write.body) : undefined;
    if (write) headers["content-type"] = write.contentType;
    const send = this.url.protocol === "https:" ? httpsRequest : httpRequest;
    const prefix = this.url.pathname.replace(/\/+$/, "");
    return new Promise((resolve, reject) => {
      const req = send({ host: this.url.hostname, port: this.url.port, path: `${prefix}${path}${search.size ? `?${search}` : ""}`, method: write?.method ?? "GET", headers, agent: this.agent, signal, timeout: idleMs }, resolve);
      req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer from the API server in ${idleMs} ms`), { code: "ETIMEDOUT" })));
      req.on("error", reject);
      req.end(body);
    });
  }

  private static async fail(res: IncomingMessage): Promise<never> {
    let text = "";
    for await (const chunk of res) text += chunk;
    let status: { code?: number; reason?: string; message?: string } = {};
    try {
      status = JSON.parse(text);
    } catch {
      status = { message: text.trim() };
    }
    throw new LiteKubeError(status.code ?? res.statusCode ?? 0, status.reason ?? "", status.message || `HTTP ${res.statusCode}`);
  }

  /** The object at `path`, or undefined when the API server says it does not exist. */
  async get<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T | undefined> {
    const res = await this.open(path, query, signal, this.requestTimeoutMs);
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) return LiteKubeClient.fail(res);
    let text = "";
    for await (const chunk of res) text += chunk;
    return JSON.parse(text) as T;
  }

  /** Creates an object (POST to its collection) and returns it as stored. */
  create<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.write<T>(path, { method: "POST", contentType: "application/json", body }, signal);
  }

  /** A JSON merge patch of the object at `path`; returns it as stored. */
  mergePatch<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.write<T>(path, { method: "PATCH", contentType: "application/merge-patch+json", body }, signal);
  }

  private async write<T>(path: string, write: { method: "POST" | "PATCH"; contentType: string; body: unknown }, signal?: AbortSignal): Promise<T> {
    const res = await this.open(path, {}, signal, this.requestTimeoutMs, write);
    if (res.statusCode !== 200 && res.statusCode !== 201) return LiteKubeClient.fail(res);
    let text = "";
    for await (const chunk of res) text += chunk;
    return JSON.parse(text) as T;
  }

  /** Every item of a collection (paged), and the collection's resourceVersion to watch from. */
  async list<T>(path: string, query: Query, signal?: AbortSignal): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let next: string | undefined;
    let resourceVersion = "";
    do {
      const page = await this.get<{ items: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(path, { ...query, limit: 500, continue: next }, signal);
      if (!page) throw new LiteKubeError(404, "NotFound", `the server could not find the requested resource (${path})`);
      items.push(...page.items);
      resourceVersion = page.metadata?.resourceVersion ?? "";
      next = page.metadata?.continue || undefined;
    } while (next);
    return { items, resourceVersion };
  }

  /** Streams watch events until the server ends the watch or `signal` aborts. */
  async watch<T>(path: string, query: Query, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open(path, { timeoutSeconds: WATCH_SECONDS, ...query, watch: true, allowWatchBookmarks: true }, signal, WATCH_IDLE_MS);
    if (res.statusCode !== 200) return LiteKubeClient.fail(res);
    let buffered = "";
    res.setEncoding("utf8");
    for await (const chunk of res) {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end).trim();
        buffered = buffered.slice(end + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
