import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { isIPv4, type Socket } from "node:net";
import type { V1Deployment, V1Pod, V1ReplicaSet } from "@kubernetes/client-node";
import {
  CONTEXT_CANCELED,
  exceptionPodLine,
  healthText,
  HOST_NOT_ALLOWED,
  NO_IDENTITY_FOR_REQUEST,
  noBindingLabelMessage,
  notAssignedMessage,
  POD_LIST_EMPTY,
  redactClientId,
  TOKEN_FAILED,
} from "../../aadpodidentity/contract/messages.js";
import { isExceptionPod, isMicPod } from "../../aadpodidentity/exceptions.js";
import { isActivePod, podsWithIp } from "../../aadpodidentity/pods.js";
import { fencedIdentity, hasCreatedAssignment, podIdentities, selectIdentity, type IdentityRequest, type PodRef, type Selection } from "../../aadpodidentity/selection.js";
import { identitySpec } from "../../aadpodidentity/spec.js";
import { BINDING_LABEL, type AzureAssignedIdentity, type AzureIdentity, type AzurePodIdentityException } from "../../aadpodidentity/types.js";
import type { WatchCache } from "../../kube/watch-cache.js";
import type { Logger } from "../../util/logger.js";
import { unverifiedIdentityClaims } from "../../util/jwt-claims.js";
import { canonicalRequest, queryParam, TOKEN_PATH, type CanonicalRequest, type Refusal } from "./canonical-request.js";
import { requestedIdentity, type DecisionLog, type Outcome } from "./decisions.js";
import { answerMetrics } from "../probes.js";
import type { NmiMetrics } from "./metrics.js";
import { RETRY_AFTER_SECONDS, type NmiOptions } from "./options.js";
import { TokenError, type MsiToken, type TokenSource } from "./tokens.js";

export interface NmiHandlerDeps {
  options: NmiOptions;
  pods: WatchCache<V1Pod>;
  assigned: WatchCache<AzureAssignedIdentity>;
  exceptions: WatchCache<AzurePodIdentityException>;
  /** Every AzureIdentity in the cluster: the identities exempt pods are fenced off. */
  identities: WatchCache<AzureIdentity>;
  /** The ReplicaSets of --MICNamespace: how MIC's pods are followed to their Deployment. */
  replicaSets: WatchCache<V1ReplicaSet>;
  /** The Deployments of --MICNamespace: the MIC Deployment a ReplicaSet claims must be the real one. */
  deployments: WatchCache<V1Deployment>;
  tokens: TokenSource;
  /** The pod as the API server has it now (not the cache): how a caller is confirmed before anything is issued. */
  livePod: (namespace: string, name: string, signal: AbortSignal) => Promise<V1Pod | undefined>;
  /** The node's IMDS, where the paths that serve no token (and exempt pods' token requests) go. */
  imdsBaseUrl: string;
  logger: Logger;
  metrics: NmiMetrics;
  decisions: DecisionLog;
  /** Addresses allowed to call /host/token/ (127.0.0.1 and the host IP). */
  hostAddresses: ReadonlySet<string>;
  /** "host" or "host:port" an absolute-form request-target may name (known once NMI listens). */
  authorities: () => ReadonlySet<string>;
  health: () => boolean;
}

/** Upstream's pod lookup: 4 retries 300 ms apart; here the wait ends as soon as the pod cache has it. */
const POD_LOOKUP_WAIT_MS = 1200;
/** A POST to scheduled events acknowledges a few events: a small JSON body. */
const MAX_FORWARDED_BODY = 64 * 1024;
/** IMDS's largest answers (instance metadata) are tens of kilobytes. */
const MAX_IMDS_ANSWER = 4 * 1024 * 1024;
const METADATA_HEADER_BODY = JSON.stringify({ error: "invalid_request", error_description: "Required metadata header not specified" }) + "\n";
/** Request headers passed on to IMDS; everything else (X-Forwarded-For, Host, hop-by-hop headers) stays here. */
const FORWARDED_HEADERS = ["metadata", "accept", "user-agent", "x-ms-client-request-id"];
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade", "te", "trailer"]);

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The decision's reason word. */
    readonly reason: string,
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

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A token answer's body, serialized once per token object: the token source hands out the same object for as long
 * as its expires_in reads the same, so a busy pod's requests reuse one body.
 */
const tokenBodies = new WeakMap<MsiToken, Buffer>();
function sendToken(res: ServerResponse, token: MsiToken): void {
  let body = tokenBodies.get(token);
  if (!body) tokenBodies.set(token, (body = Buffer.from(JSON.stringify(token))));
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
  res.end(body);
}

/** The caller's IPv4 address from the TCP connection (IPv4-mapped IPv6 unwrapped); never from headers. */
export function remoteIp(req: IncomingMessage): string {
  const raw = req.socket.remoteAddress ?? "";
  const ip = raw.startsWith("::ffff:") ? raw.slice(7) : raw;
  return isIPv4(ip) ? ip : "";
}

/** What IMDS answered, read in full (bounded) so that NMI can look at it before the caller does. */
interface ImdsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on its way through NMI: what is known so far about who asks, for the decision line. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  request: CanonicalRequest;
  source: string;
  /** namespace/name of the calling (or, on the host route, named) pod once known. */
  pod?: string;
  signal: AbortSignal;
  labels: Record<string, string>;
}

/** Which identity an IMDS token answer is for: its client_id, else the token's own appid claim. */
function answeredClientId(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { client_id?: unknown; access_token?: unknown };
    if (typeof parsed.client_id === "string" && parsed.client_id) return parsed.client_id;
    return typeof parsed.access_token === "string" ? unverifiedIdentityClaims(parsed.access_token).clientId : undefined;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      // Past the limit the rest is read and dropped, so that the 413 reaches the caller before the connection closes.
      if (size > limit) reject(new HttpFailure(413, `request body larger than ${limit} bytes`, "body-too-large", { Connection: "close" }));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", (err) => reject(new HttpFailure(400, err.message, "malformed-request")));
  });
}

export function createNmiHandler(deps: NmiHandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { options, logger, metrics } = deps;
  const intervalMs = options.findIdentityRetryIntervalSec * 1000;
  // Indexes over the caches, rebuilt only when they change: a request looks its pod and its assignments up in them.
  const podsAt = deps.pods.indexBy((p) => p.status?.podIP);
  const assignedTo = deps.assigned.indexBy((a) => `${a.spec?.podNamespace}/${a.spec?.pod}`);
  const assignmentsOf = (pod: PodRef) => assignedTo(`${pod.namespace}/${pod.name}`);

  /** The pod with this address, if the cache knows exactly one (for decision lines; never waits). */
  const podAt = (ip: string): string | undefined => {
    const found = ip ? podsWithIp(podsAt(ip), ip) : [];
    return found.length === 1 ? `${found[0].metadata?.namespace}/${found[0].metadata?.name}` : undefined;
  };

  function decide(ex: Exchange, outcome: Outcome, reason: string, status: number): void {
    const identity = ex.request.route === "imds" ? undefined : requestedIdentity(ex.request);
    deps.decisions.record({ outcome, reason, status, source: ex.source, pod: ex.pod ?? podAt(ex.source), identity, path: ex.request.path });
  }

  /** Refuses what canonicalRequest refused, as IMDS or upstream NMI words each case. */
  function refuse(res: ServerResponse, source: string, refusal: Refusal): void {
    const identity = refusal.query && (refusal.route === "token" || refusal.route === "host-token") ? requestedIdentity({ query: refusal.query }) : undefined;
    deps.decisions.record({ outcome: "refused", reason: refusal.reason, status: refusal.status, source, pod: podAt(source), identity, path: refusal.path });
    // What could not be read one way only may also be framed oddly: nothing more is read on this connection.
    const close = refusal.reason === "malformed-request" || refusal.reason === "unexpected-body" || refusal.reason === "target-too-long" ? { Connection: "close" } : undefined;
    switch (refusal.reason) {
      case "missing-metadata-header":
        res.writeHead(400, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(METADATA_HEADER_BODY) });
        return void res.end(METADATA_HEADER_BODY);
      case "method-not-allowed":
        return sendJson(res, 405, { error: "invalid_request", error_description: refusal.message }, { Allow: (refusal.allow ?? ["GET"]).join(", ") });
      case "non-canonical-token-path":
      case "identity-path":
        return sendText(res, 400, "Invalid request");
      case "malformed-request":
      case "unexpected-body":
        return sendText(res, 400, `Invalid request: ${refusal.message}`, close);
      default:
        return sendText(res, refusal.status, refusal.message, close);
    }
  }

  /** Per connection, the pod the API server confirmed holds its source address (a connection never changes pods). */
  const confirmed = new WeakMap<Socket, string>();

  /**
   * The calling pod as the cache has it: the one pod of this node at the source address (waiting briefly,
   * event-driven, for a new pod). Several candidates are refused with a retryable 503. Before anything is issued
   * or passed on for it, confirmCaller checks it with the API server.
   */
  async function podForIp(ip: string, signal: AbortSignal): Promise<V1Pod> {
    const lookup = () => podsWithIp(podsAt(ip), ip);
    let found = lookup();
    if (found.length === 0) {
      found =
        (await waitFor(
          deps.pods,
          () => {
            const now = lookup();
            return now.length ? now : undefined;
          },
          POD_LOOKUP_WAIT_MS,
          signal,
        )) ?? [];
    }
    if (found.length === 0) {
      metrics.kubeErrors.inc({ operation_type: "get_pod_list" });
      throw new HttpFailure(500, POD_LIST_EMPTY, "unknown-pod");
    }
    const retry = { "Retry-After": "1" };
    if (found.length > 1) {
      throw new HttpFailure(503, `failed to match pod IP ${ip} with [${found.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(" ")}]: several pods of this node hold it; retry`, "ambiguous-pod", retry);
    }
    return found[0];
  }

  /**
   * Confirms once per connection with the API server that the cached pod still holds the source address — a cache
   * that lags behind a deletion must never hand the next holder of the address the old pod's identity. A pod the API
   * server no longer has there is refused with a retryable 503. Asked only when NMI is about to answer for the pod,
   * so that callers who get nothing cost the API server nothing.
   */
  async function confirmCaller(pod: V1Pod, ip: string, socket: Socket, signal: AbortSignal): Promise<void> {
    const retry = { "Retry-After": "1" };
    const uid = pod.metadata?.uid ?? "";
    if (confirmed.get(socket) === uid) return;
    const namespace = pod.metadata?.namespace ?? "";
    const name = pod.metadata?.name ?? "";
    let live: V1Pod | undefined;
    try {
      live = await deps.livePod(namespace, name, signal);
    } catch (err) {
      throw new HttpFailure(503, `cannot confirm with the API server that pod ${namespace}/${name} holds ${ip}: ${(err as Error).message}; retry`, "caller-unconfirmed", retry);
    }
    if (!live || live.metadata?.uid !== uid || live.status?.podIP !== ip || !isActivePod(live)) {
      throw new HttpFailure(503, `pod ${namespace}/${name} no longer holds ${ip} (deleted, replaced or terminating); the caller is not known yet: retry`, "stale-pod", retry);
    }
    confirmed.set(socket, uid);
  }

  /**
   * Upstream's GetIdentities, event-driven: re-evaluated on every change of the AzureAssignedIdentity cache.
   * Gives up when no Created/Assigned match exists after retry-attempts-for-created intervals, or after
   * (created + assigned) intervals in all. An object_id is matched against the pod's own identities only (by the
   * oid of the tokens NMI gets for them): no identity the pod does not have is ever asked about.
   */
  async function identityFor(pod: PodRef, request: IdentityRequest & { objectId?: string }, resource: string, signal: AbortSignal, labelled = true): Promise<AzureIdentity> {
    const requested = request.clientId ?? request.resourceId ?? request.objectId;
    const prefix = requested ? `clientID in request: ${redactClientId(requested)}, ` : "";
    const created = options.retryAttemptsForCreated;
    const total = created + options.retryAttemptsForAssigned;
    const started = Date.now();
    let resolved: IdentityRequest | undefined = request.objectId ? undefined : request;
    const evaluate = async (): Promise<Selection> => {
      if (!resolved && request.objectId) {
        const wanted = request.objectId.trim().toLowerCase();
        for (const identity of podIdentities(assignmentsOf(pod), pod, options.forceNamespaced)) {
          const objectId = await deps.tokens.objectIdOf(identity, resource).catch(() => undefined);
          const { clientID } = identitySpec(identity);
          if (objectId === wanted && clientID) {
            resolved = { clientId: clientID };
            break;
          }
        }
      }
      return resolved ? selectIdentity(assignmentsOf(pod), pod, resolved, options.forceNamespaced) : { kind: "pending", hasCreated: hasCreatedAssignment(assignmentsOf(pod), pod) };
    };
    const decideWait = async (): Promise<Selection | string | undefined> => {
      const selection = await evaluate();
      if (selection.kind !== "pending") return selection;
      // MIC assigns identities only to pods whose aadpodidbinding label a binding selects: without the label,
      // and with nothing assigned, no identity can come (upstream waits out all its attempts regardless).
      if (!labelled && !selection.hasCreated) {
        return noBindingLabelMessage(prefix, pod);
      }
      const elapsed = Date.now() - started;
      const intervalSec = options.findIdentityRetryIntervalSec;
      if (elapsed >= total * intervalMs) return notAssignedMessage({ prefix, pod, state: "ASSIGNED", attempts: total, intervalSec });
      if (elapsed >= created * intervalMs && !selection.hasCreated) return notAssignedMessage({ prefix, pod, state: "CREATED", attempts: created, intervalSec });
      return undefined;
    };
    let outcome = await decideWait();
    if (outcome === undefined) {
      outcome = await waitForAsync(deps.assigned, decideWait, [created * intervalMs, total * intervalMs].map((ms) => started + ms), signal);
    }
    if (outcome === undefined) throw new HttpFailure(404, CONTEXT_CANCELED, "client-gone");
    if (typeof outcome === "string") {
      logger.warn(`failed to get matching identities for pod: ${pod.namespace}/${pod.name}, error: ${outcome}`);
      if (options.setRetryAfterHeader) throw new HttpFailure(503, outcome, "not-assigned", { "Retry-After": String(RETRY_AFTER_SECONDS) });
      throw new HttpFailure(404, outcome, "not-assigned");
    }
    if (outcome.kind === "excluded") {
      logger.warn(outcome.message);
      throw new HttpFailure(404, `${prefix}${NO_IDENTITY_FOR_REQUEST}`, "namespaced-identity-elsewhere");
    }
    if (outcome.kind !== "found") throw new HttpFailure(404, `${prefix}${NO_IDENTITY_FOR_REQUEST}`, "not-assigned");
    return outcome.identity;
  }

  async function tokenOf(identity: AzureIdentity, resource: string, pod: PodRef): Promise<MsiToken> {
    try {
      return await deps.tokens.tokenFor(identity, resource);
    } catch (err) {
      const status = err instanceof TokenError ? err.status : 503;
      const message = `${TOKEN_FAILED} for pod: ${pod.namespace}/${pod.name}, error: ${(err as Error).message}`;
      logger.warn(message);
      throw new HttpFailure(status, message, "token-unavailable");
    }
  }

  /** client_id wins over a resource id, which wins over object_id (upstream's precedence; object_id is podid's). */
  const identityRequest = (request: CanonicalRequest): IdentityRequest & { objectId?: string } => {
    const clientId = queryParam(request, "client_id") || undefined;
    const resourceId = queryParam(request, "msi_res_id") || queryParam(request, "mi_res_id") || undefined;
    const objectId = queryParam(request, "object_id") || undefined;
    if (clientId) return { clientId };
    if (resourceId) return { resourceId };
    return objectId ? { objectId } : {};
  };

  /** Asks the node's IMDS: the canonical path and the re-serialized query, never the raw target. */
  function askImds(ex: Exchange, path: string, search: string, method: string, body?: Buffer): Promise<ImdsAnswer> {
    const target = new URL(deps.imdsBaseUrl);
    const headers: Record<string, string> = { host: target.host };
    for (const name of FORWARDED_HEADERS) {
      const value = ex.req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    if (body) {
      headers["content-length"] = String(body.length);
      if (typeof ex.req.headers["content-type"] === "string") headers["content-type"] = ex.req.headers["content-type"];
    }
    return new Promise((resolve, reject) => {
      const upstream = httpRequest({ host: target.hostname, port: target.port || 80, path: path + search, method, headers, agent: false, signal: ex.signal }, (imds) => {
        const chunks: Buffer[] = [];
        let size = 0;
        imds.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_IMDS_ANSWER) {
            imds.destroy();
            reject(new HttpFailure(502, `IMDS answered with more than ${MAX_IMDS_ANSWER} bytes`, "imds-unreachable"));
          } else chunks.push(c);
        });
        imds.on("end", () => resolve({ status: imds.statusCode ?? 502, headers: imds.headers, body: Buffer.concat(chunks) }));
        imds.on("error", (err) => reject(new HttpFailure(500, err.message, "imds-unreachable")));
      });
      upstream.on("error", (err) => reject(new HttpFailure(500, err.message, "imds-unreachable")));
      upstream.end(body);
    });
  }

  function relay(res: ServerResponse, answer: ImdsAnswer): void {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    headers["content-length"] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  }

  /**
   * Exempt pods (an AzurePodIdentityException, or MIC's own) go to the node's IMDS — fenced: an identity that an
   * AzureIdentity names is refused them unless it is assigned to that very pod, checked on the request (client_id,
   * resource ids) and again on IMDS's answer (object_id, or no identity named: IMDS chose).
   */
  async function passThrough(ex: Exchange, pod: PodRef, why: "exception-pod" | "mic-pod"): Promise<void> {
    const fence = (clientIds: string[], resourceIds: string[]) => fencedIdentity({ clientIds, resourceIds }, deps.identities.list(), assignmentsOf(pod), pod, options.forceNamespaced);
    const refusal = (identity: AzureIdentity | undefined) =>
      new HttpFailure(
        403,
        `pod ${pod.namespace}/${pod.name} is exempt from identity assignment (${why === "mic-pod" ? "MIC's own pod" : "AzurePodIdentityException"}), and the identity it asks for ` +
          (identity ? `is AzureIdentity ${identity.metadata.namespace}/${identity.metadata.name}'s` : "cannot be told from IMDS's answer") +
          `, which is not assigned to it. Exempt pods may use only identities no AzureIdentity names (NMI's --allow-exception-pod-identities lifts this)`,
        "fenced-identity",
      );
    const { request } = ex;
    if (!options.allowExceptionPodIdentities) {
      const resourceIds = [queryParam(request, "msi_res_id"), queryParam(request, "mi_res_id")].filter((v): v is string => Boolean(v));
      const named = fence([queryParam(request, "client_id") ?? ""].filter(Boolean), resourceIds);
      if (named) throw refusal(named);
    }
    logger.verbose(exceptionPodLine(pod));
    const answer = await askImds(ex, TOKEN_PATH, request.search, "GET");
    if (!options.allowExceptionPodIdentities && answer.status === 200) {
      const clientId = answeredClientId(answer.body);
      if (!clientId) throw refusal(undefined);
      const named = fence([clientId], []);
      if (named) throw refusal(named);
    }
    decide(ex, "passed-through", why, answer.status);
    relay(ex.res, answer);
  }

  async function tokenRoute(ex: Exchange): Promise<void> {
    const { request, labels } = ex;
    if (!ex.source) throw new HttpFailure(500, "request remote address is empty", "no-source-address");
    const resource = queryParam(request, "resource") ?? "";
    labels.resource = resource;
    if (!resource) throw new HttpFailure(400, "parameter resource cannot be empty", "missing-resource");
    let pod: V1Pod;
    try {
      pod = await podForIp(ex.source, ex.signal);
    } catch (err) {
      logger.warn(`failed to get pod info from pod IP: ${ex.source}, error: ${(err as Error).message}`);
      throw err;
    }
    const ref: PodRef = { namespace: pod.metadata?.namespace ?? "", name: pod.metadata?.name ?? "", bindingLabel: pod.metadata?.labels?.[BINDING_LABEL] ?? "" };
    ex.pod = `${ref.namespace}/${ref.name}`;
    labels.namespace = ref.namespace;
    const confirm = () => confirmCaller(pod, ex.source, ex.req.socket, ex.signal);
    if (isExceptionPod(pod, deps.exceptions.list())) return confirm().then(() => passThrough(ex, ref, "exception-pod"));
    if (isMicPod(pod, deps.replicaSets.list(), deps.deployments.list(), options.micNamespace)) return confirm().then(() => passThrough(ex, ref, "mic-pod"));
    const identity = await identityFor(ref, identityRequest(request), resource, ex.signal, Boolean(pod.metadata?.labels?.[BINDING_LABEL]));
    await confirm();
    if (logger.enabled("verbose")) logger.verbose(`${ref.namespace}/${ref.name} has been matched with azure identity ${identity.metadata.namespace}/${identity.metadata.name}`);
    const token = await tokenOf(identity, resource, ref);
    decide(ex, "issued", "assigned-identity", 200);
    sendToken(ex.res, token);
  }

  async function hostTokenRoute(ex: Exchange): Promise<void> {
    const { req, request, labels } = ex;
    const podns = req.headers["podns"];
    const podname = req.headers["podname"];
    if (typeof podns !== "string" || typeof podname !== "string" || !podns || !podname) throw new HttpFailure(400, "missing 'podname' and 'podns' from request header", "missing-pod-headers");
    if (!deps.hostAddresses.has(ex.source)) throw new HttpFailure(500, HOST_NOT_ALLOWED, "not-from-host");
    ex.pod = `${podns}/${podname}`;
    const resource = queryParam(request, "resource") ?? "";
    labels.resource = resource;
    labels.namespace = podns;
    if (!resource) throw new HttpFailure(400, "parameter resource cannot be empty", "missing-resource");
    // As on the pod route: a pod of this node known to carry no aadpodidbinding label is refused at once (upstream
    // waits out every attempt); a pod this NMI does not know is waited for as upstream does.
    const known = deps.pods.get(podname, podns);
    const ref: PodRef = { namespace: podns, name: podname, bindingLabel: known ? (known.metadata?.labels?.[BINDING_LABEL] ?? "") : undefined };
    let identity;
    try {
      identity = await identityFor(ref, identityRequest(request), resource, ex.signal, known ? Boolean(known.metadata?.labels?.[BINDING_LABEL]) : true);
    } catch (err) {
      // Upstream: this path never sends Retry-After.
      if (err instanceof HttpFailure && err.status === 503) throw new HttpFailure(404, err.message, err.reason);
      throw err;
    }
    const token = await tokenOf(identity, resource, ref);
    decide(ex, "issued", "host-request", 200);
    sendJson(ex.res, 200, { token, clientid: identitySpec(identity).clientID });
  }

  /** An IMDS path that serves no token: forwarded as its canonical path and re-serialized query. */
  async function forwardRoute(ex: Exchange): Promise<void> {
    const body = ex.request.method === "POST" ? await readBody(ex.req, MAX_FORWARDED_BODY) : undefined;
    const answer = await askImds(ex, ex.request.path, ex.request.search, ex.request.method, body);
    decide(ex, "forwarded", "imds-path", answer.status);
    relay(ex.res, answer);
  }

  /** Runs a route; a failure is answered (after its decision line) as upstream words it; token routes are timed. */
  function run(ex: Exchange, route: (ex: Exchange) => Promise<void>, timed: boolean): void {
    const started = process.hrtime.bigint();
    route(ex)
      .catch((err: unknown) => {
        const failure = err instanceof HttpFailure ? err : new HttpFailure(500, (err as Error)?.message ?? String(err), "internal-error");
        decide(ex, "refused", failure.reason, failure.status);
        if (!ex.res.headersSent) sendText(ex.res, failure.status, failure.message, failure.headers);
        else ex.res.destroy();
      })
      .finally(() => {
        if (!timed) return;
        const ns = process.hrtime.bigint() - started;
        ex.labels.status_code = String(ex.res.statusCode);
        // The resource is whatever the caller wrote: one series each would let a pod grow NMI's memory. Refused
        // requests have none; issued ones keep theirs up to a bound, then count as "other".
        ex.labels.resource = ex.res.statusCode >= 400 ? "" : metrics.boundedValue("resource", ex.labels.resource);
        metrics.operations.observe(ex.labels, Number(ns) / 1e9);
        if (logger.enabled("verbose")) logger.verbose(`status (${ex.res.statusCode}) took ${ns} ns for req.method=${ex.request.method} reg.path=${ex.request.path} req.remote=${ex.source}`);
      });
  }

  return (req, res) => {
    const source = remoteIp(req);
    const result = canonicalRequest(
      { method: req.method ?? "", target: req.url ?? "", rawHeaders: req.rawHeaders, httpVersion: req.httpVersion },
      { authorities: deps.authorities(), metadataHeaderRequired: options.metadataHeaderRequired, blockInstanceMetadata: options.blockInstanceMetadata },
    );
    if (!result.ok) return refuse(res, source, result.refusal);
    const request = result.request;
    if ((request.route === "healthz" || request.route === "metrics") && !deps.hostAddresses.has(source)) {
      // Pods reach this port as 169.254.169.254: what NMI knows of other pods (metrics) is the node's, not theirs.
      return refuse(res, source, { status: 404, reason: "not-forwarded", message: "404 page not found", route: request.route, path: request.path });
    }
    if (request.route === "healthz") return sendText(res, 200, healthText(deps.health()));
    if (request.route === "metrics") return void answerMetrics(res, metrics.registry).catch(() => res.destroy());
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const ex: Exchange = { req, res, request, source, signal: abort.signal, labels: { operation_type: request.path, status_code: "", namespace: "", resource: "" } };
    if (request.route === "imds") return run(ex, forwardRoute, false);
    run(ex, request.route === "token" ? tokenRoute : hostTokenRoute, true);
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
        setTimeout(
          () => {
            if (undefinedAtLastDeadline && at === last) {
              chain = chain.then(() => finish(undefined));
            } else run();
          },
          Math.max(0, at - Date.now()) + 1,
        ),
      );
    }
    if (signal.aborted) onAbort();
    else run();
  });
}
