import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { isIPv4 } from "node:net";
import type { V1Pod } from "@kubernetes/client-node";
import { BINDING_LABEL, type AzureAssignedIdentity, type AzurePodIdentityException } from "../../kube/aadpodidentity.js";
import type { WatchCache } from "../../kube/watch-cache.js";
import type { Logger } from "../../util/logger.js";
import { isExceptionPod, isMicPod, podsWithIp, redactClientId, selectIdentity, type IdentityRequest, type PodRef, type Selection } from "./identities.js";
import type { NmiMetrics } from "./metrics.js";
import { RETRY_AFTER_SECONDS, type NmiOptions } from "./options.js";
import { TokenError, type MsiToken, type TokenSource } from "./tokens.js";

export interface NmiHandlerDeps {
  options: NmiOptions;
  pods: WatchCache<V1Pod>;
  assigned: WatchCache<AzureAssignedIdentity>;
  exceptions: WatchCache<AzurePodIdentityException>;
  tokens: TokenSource;
  /** The node's IMDS, where everything that is not a token request goes. */
  imdsBaseUrl: string;
  logger: Logger;
  metrics: NmiMetrics;
  /** Addresses allowed to call /host/token/ (127.0.0.1 and the host IP). */
  hostAddresses: ReadonlySet<string>;
  health: () => boolean;
}

/** Upstream's pod lookup: 4 retries 300 ms apart; here the wait ends as soon as the pod cache has it. */
const POD_LOOKUP_WAIT_MS = 1200;
const METADATA_HEADER_BODY = JSON.stringify({ error: "invalid_request", error_description: "Required metadata header not specified" }) + "\n";

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Go's http.Error: text/plain, nosniff, the message and a newline. */
function sendText(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = message + "\n";
  res.writeHead(status, { ...headers, "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** The caller's IPv4 address from the TCP connection (IPv4-mapped IPv6 unwrapped); never from headers. */
export function remoteIp(req: IncomingMessage): string {
  const raw = req.socket.remoteAddress ?? "";
  const ip = raw.startsWith("::ffff:") ? raw.slice(7) : raw;
  return isIPv4(ip) ? ip : "";
}

/** The path exactly as sent (WHATWG URL parsing would turn "\\" into "/"), and the query. */
interface RequestUrl {
  pathname: string;
  search: string;
  searchParams: URLSearchParams;
}
function requestUrl(raw: string): RequestUrl {
  const q = raw.indexOf("?");
  const search = q < 0 ? "" : raw.slice(q);
  return { pathname: q < 0 ? raw : raw.slice(0, q), search, searchParams: new URLSearchParams(search) };
}

/** "metadata" is matched case-insensitively (gorilla/mux route variable), the rest of the path exactly. */
const normalizePath = (path: string) => path.replace(/^\/metadata(?=\/|$)/i, "/metadata");
const TOKEN_PATH = "/metadata/identity/oauth2/token";
/** CVE-2022-23551: variants of the token path that the exact route misses must not reach the proxy. */
const TOKEN_PATH_VARIANT = /^\/metadata\/identity(.*?)oauth2(.*?)token/;

export function createNmiHandler(deps: NmiHandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { options, logger, metrics } = deps;
  const intervalMs = options.findIdentityRetryIntervalSec * 1000;

  const metadataHeaderOk = (req: IncomingMessage) => !options.metadataHeaderRequired || req.headers["metadata"] === "true";

  /** Resolves the pod with this IP, waiting briefly (event-driven) for the cache to learn about a new pod. */
  async function podForIp(ip: string, signal: AbortSignal): Promise<V1Pod> {
    const lookup = () => podsWithIp(deps.pods.list(), ip);
    let found = lookup();
    if (found.length === 0) {
      found = await waitFor(deps.pods, () => {
        const now = lookup();
        return now.length ? now : undefined;
      }, POD_LOOKUP_WAIT_MS, signal) ?? [];
    }
    if (found.length === 0) {
      metrics.increment("kubernetes_api_operations_errors_count", { operation_type: "get_pod_list" });
      throw new HttpFailure(500, "pod list is empty");
    }
    if (found.length > 1) throw new HttpFailure(500, `failed to match pod IP ${ip} with [${found.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(" ")}]`);
    return found[0];
  }

  /**
   * Upstream's GetIdentities, event-driven: re-evaluated on every change of the AzureAssignedIdentity cache.
   * Gives up when no Created/Assigned match exists after retry-attempts-for-created intervals, or after
   * (created + assigned) intervals in all.
   */
  async function identityFor(pod: PodRef, request: IdentityRequest & { objectId?: string }, resource: string, signal: AbortSignal, labelled = true) {
    const requested = request.clientId ?? request.resourceId ?? request.objectId;
    const prefix = requested ? `clientID in request: ${redactClientId(requested)}, ` : "";
    const created = options.retryAttemptsForCreated;
    const total = created + options.retryAttemptsForAssigned;
    const started = Date.now();
    let resolved: IdentityRequest | undefined = request.objectId ? undefined : request;
    const evaluate = async (): Promise<Selection | undefined> => {
      if (!resolved && request.objectId) {
        const clientId = await deps.tokens.clientIdForObjectId(request.objectId, resource);
        if (clientId) resolved = { clientId };
      }
      return resolved ? selectIdentity(deps.assigned.list(), pod, resolved, options.forceNamespaced) : { kind: "pending", hasCreated: false };
    };
    let outcome: Selection | string | undefined;
    const decide = async (): Promise<Selection | string | undefined> => {
      const selection = await evaluate();
      if (!selection || selection.kind !== "pending") return selection;
      // MIC assigns identities only to pods whose aadpodidbinding label a binding selects: without the label,
      // and with nothing assigned, no identity can come (upstream waits out all its attempts regardless).
      if (!labelled && !selection.hasCreated) {
        return `${prefix}pod ${pod.namespace}/${pod.name} has no ${BINDING_LABEL} label, so no AzureIdentityBinding selects it and no identity will be assigned to it. Label it with a binding's selector`;
      }
      const elapsed = Date.now() - started;
      if (elapsed >= total * intervalMs) {
        return `${prefix}getting assigned identities for pod ${pod.namespace}/${pod.name} in ASSIGNED state failed after ${total} attempts, retry duration [${options.findIdentityRetryIntervalSec}]s, error: <nil>. Check MIC pod logs for identity assignment errors`;
      }
      if (elapsed >= created * intervalMs && !selection.hasCreated) {
        return `${prefix}getting assigned identities for pod ${pod.namespace}/${pod.name} in CREATED state failed after ${created} attempts, retry duration [${options.findIdentityRetryIntervalSec}]s, error: <nil>. Check MIC pod logs for identity assignment errors`;
      }
      return undefined;
    };
    outcome = await decide();
    if (outcome === undefined) {
      outcome = await waitForAsync(deps.assigned, decide, [created * intervalMs, total * intervalMs].map((ms) => started + ms), signal);
    }
    if (outcome === undefined) throw new HttpFailure(404, "context canceled");
    if (typeof outcome === "string") {
      logger.warn(`failed to get matching identities for pod: ${pod.namespace}/${pod.name}, error: ${outcome}`);
      if (options.setRetryAfterHeader) throw new HttpFailure(503, outcome, { "Retry-After": String(RETRY_AFTER_SECONDS) });
      throw new HttpFailure(404, outcome);
    }
    if (outcome.kind === "excluded") {
      logger.warn(outcome.message);
      throw new HttpFailure(404, `${prefix}no azure identity found for request`);
    }
    if (outcome.kind !== "found") throw new HttpFailure(404, `${prefix}no azure identity found for request`);
    return outcome.identity;
  }

  async function tokenOf(identity: Parameters<TokenSource["tokenFor"]>[0], resource: string, pod: PodRef): Promise<MsiToken> {
    try {
      return await deps.tokens.tokenFor(identity, resource);
    } catch (err) {
      const status = err instanceof TokenError ? err.status : 503;
      const message = `failed to get service principal token for pod: ${pod.namespace}/${pod.name}, error: ${(err as Error).message}`;
      logger.warn(message);
      throw new HttpFailure(status, message);
    }
  }

  const identityRequest = (url: RequestUrl): IdentityRequest & { objectId?: string } => {
    const q = url.searchParams;
    const clientId = q.get("client_id") || undefined;
    const resourceId = q.get("msi_res_id") || q.get("mi_res_id") || undefined;
    const objectId = q.get("object_id") || undefined;
    if (clientId) return { clientId };
    if (resourceId) return { resourceId };
    return objectId ? { objectId } : {};
  };

  async function tokenRoute(req: IncomingMessage, res: ServerResponse, url: RequestUrl, signal: AbortSignal, labels: Record<string, string>): Promise<void> {
    if (!metadataHeaderOk(req)) {
      logger.verbose(`metadata header is not specified, req.method=${req.method} reg.path=${url.pathname} req.remote=${req.socket.remoteAddress}`);
      res.writeHead(400, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(METADATA_HEADER_BODY) });
      res.end(METADATA_HEADER_BODY);
      return;
    }
    const ip = remoteIp(req);
    if (!ip) throw new HttpFailure(500, "request remote address is empty");
    const resource = url.searchParams.get("resource") ?? "";
    labels.resource = resource;
    if (!resource) throw new HttpFailure(400, "parameter resource cannot be empty");
    let pod: V1Pod;
    try {
      pod = await podForIp(ip, signal);
    } catch (err) {
      logger.warn(`failed to get pod info from pod IP: ${ip}, error: ${(err as Error).message}`);
      throw err;
    }
    const ref: PodRef = { namespace: pod.metadata?.namespace ?? "", name: pod.metadata?.name ?? "" };
    labels.namespace = ref.namespace;
    if (isExceptionPod(pod, deps.exceptions.list()) || isMicPod(pod, options.micNamespace)) {
      logger.verbose(`exception pod ${ref.namespace}/${ref.name} token handling`);
      await proxy(req, res, url);
      return;
    }
    const identity = await identityFor(ref, identityRequest(url), resource, signal, Boolean(pod.metadata?.labels?.[BINDING_LABEL]));
    if (logger.enabled("verbose")) logger.verbose(`${ref.namespace}/${ref.name} has been matched with azure identity ${identity.metadata.namespace}/${identity.metadata.name}`);
    sendJson(res, 200, await tokenOf(identity, resource, ref));
  }

  async function hostTokenRoute(req: IncomingMessage, res: ServerResponse, url: RequestUrl, signal: AbortSignal, labels: Record<string, string>): Promise<void> {
    const podns = req.headers["podns"];
    const podname = req.headers["podname"];
    if (typeof podns !== "string" || typeof podname !== "string" || !podns || !podname) throw new HttpFailure(400, "missing 'podname' and 'podns' from request header");
    if (!deps.hostAddresses.has(remoteIp(req))) throw new HttpFailure(500, "request remote address is not from a host");
    const resource = url.searchParams.get("resource") ?? "";
    labels.resource = resource;
    labels.namespace = podns;
    if (!resource) throw new HttpFailure(400, "parameter resource cannot be empty");
    const ref = { namespace: podns, name: podname };
    // As on the pod route: a pod of this node known to carry no aadpodidbinding label is refused at once (upstream
    // waits out every attempt); a pod this NMI does not know is waited for as upstream does.
    const known = deps.pods.list().find((p) => p.metadata?.namespace === podns && p.metadata?.name === podname);
    let identity;
    try {
      identity = await identityFor(ref, identityRequest(url), resource, signal, known ? Boolean(known.metadata?.labels?.[BINDING_LABEL]) : true);
    } catch (err) {
      // Upstream: this path never sends Retry-After.
      if (err instanceof HttpFailure && err.status === 503) throw new HttpFailure(404, err.message);
      throw err;
    }
    sendJson(res, 200, { token: await tokenOf(identity, resource, ref), clientid: identity.spec.clientID });
  }

  /** Everything else goes to the node's IMDS unchanged: method, path, query, headers, body. */
  function proxy(req: IncomingMessage, res: ServerResponse, url: RequestUrl): Promise<void> {
    const target = new URL(deps.imdsBaseUrl);
    return new Promise((resolve) => {
      const headers = { ...req.headers, host: target.host };
      const upstream = httpRequest({ host: target.hostname, port: target.port || 80, path: url.pathname + url.search, method: req.method, headers }, (imds) => {
        res.writeHead(imds.statusCode ?? 502, imds.headers);
        imds.pipe(res);
        imds.on("end", resolve);
        imds.on("error", () => resolve());
      });
      upstream.on("error", (err) => {
        if (!res.headersSent) sendText(res, 500, err.message);
        else res.destroy();
        resolve();
      });
      req.pipe(upstream);
    });
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const url = requestUrl(req.url ?? "/");
    const path = normalizePath(url.pathname);
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const labels: Record<string, string> = { operation_type: url.pathname, status_code: "", namespace: "", resource: "" };
    const wrapped = (route: (req: IncomingMessage, res: ServerResponse, url: RequestUrl, signal: AbortSignal, labels: Record<string, string>) => Promise<void>) => {
      route(req, res, url, abort.signal, labels)
        .catch((err: unknown) => {
          const failure = err instanceof HttpFailure ? err : new HttpFailure(500, (err as Error)?.message ?? String(err));
          if (!res.headersSent) sendText(res, failure.status, failure.message, failure.headers);
        })
        .finally(() => {
          const ns = process.hrtime.bigint() - started;
          labels.status_code = String(res.statusCode);
          metrics.observe("nmi_operations_duration_seconds", labels, Number(ns) / 1e9);
          if (logger.enabled("verbose")) logger.verbose(`status (${res.statusCode}) took ${ns} ns for req.method=${req.method} reg.path=${url.pathname} req.remote=${remoteIp(req)}`);
        });
    };
    if (path.startsWith(TOKEN_PATH)) return wrapped(tokenRoute);
    if (TOKEN_PATH_VARIANT.test(path)) return sendText(res, 400, "Invalid request");
    if (path.startsWith("/host/token")) return wrapped(hostTokenRoute);
    if (options.blockInstanceMetadata && path.startsWith("/metadata/instance")) return sendText(res, 403, "Request blocked by AAD Pod Identity NMI");
    if (path === "/healthz") return sendText(res, 200, deps.health() ? "Active" : "Not Active");
    if (path === "/metrics") {
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
      return res.end(metrics.render());
    }
    if (!metadataHeaderOk(req)) {
      res.writeHead(400, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(METADATA_HEADER_BODY) });
      return res.end(METADATA_HEADER_BODY);
    }
    void proxy(req, res, url);
  };
}

/** Waits until `check` returns a value, re-checking on each cache change; undefined on timeout or abort. */
function waitFor<T, O>(cache: WatchCache<O>, check: () => T | undefined, timeoutMs: number, signal: AbortSignal): Promise<T | undefined> {
  return waitForAsync(cache, async () => check(), [Date.now() + timeoutMs], signal, true);
}

/**
 * Re-runs `decide` (serially) on every cache change and at each deadline, until it returns a value. With
 * `undefinedAtLastDeadline`, the last deadline ends the wait with undefined; otherwise `decide` must settle it.
 */
function waitForAsync<T, O>(cache: WatchCache<O>, decide: () => Promise<T | undefined>, deadlines: number[], signal: AbortSignal, undefinedAtLastDeadline = false): Promise<T | undefined> {
  return new Promise((resolve) => {
    let done = false;
    let chain = Promise.resolve();
    const timers: NodeJS.Timeout[] = [];
    const finish = (value: T | undefined) => {
      if (done) return;
      done = true;
      unsubscribe();
      timers.forEach(clearTimeout);
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    };
    const run = () => {
      chain = chain.then(async () => {
        if (done) return;
        try {
          const value = await decide();
          if (value !== undefined) finish(value);
        } catch {
          /* evaluated again on the next change */
        }
      });
    };
    const onAbort = () => finish(undefined);
    const unsubscribe = cache.onChange(run);
    signal.addEventListener("abort", onAbort);
    const last = Math.max(...deadlines);
    for (const at of deadlines) {
      timers.push(
        setTimeout(() => {
          if (undefinedAtLastDeadline && at === last) {
            chain = chain.then(() => finish(undefined));
          } else run();
        }, Math.max(0, at - Date.now()) + 1),
      );
    }
    if (signal.aborted) onAbort();
    else run();
  });
}
