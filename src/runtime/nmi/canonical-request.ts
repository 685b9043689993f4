/**
 * The one form of a request NMI decides on. Every request is parsed and canonicalized here before any
 * decision: the request-target (absolute form turned into origin form), the path (percent-decoded, backslashes
 * as slashes, repeated slashes collapsed, dot segments resolved), the query (decoded, keys unique whatever their
 * casing), the method and the Metadata header. Anything ambiguous or malformed is refused rather than guessed
 * at, and whatever canonicalizes to the token route but was not sent exactly as it is refused: a server behind
 * NMI that normalizes paths differently must never see a token request NMI did not recognise as one.
 *
 * Pure: no I/O, no clock. The server acts only on what this returns.
 */

/** The token route, as IMDS and every SDK spell it; "metadata" may come in any casing (upstream's router). */
export const TOKEN_PATH = "/metadata/identity/oauth2/token";
export const HOST_TOKEN_PATH = "/host/token";

/**
 * The IMDS endpoint categories that serve no token (learn.microsoft.com, "Azure Instance Metadata Service",
 * Endpoint categories): NMI forwards these, and only these, to the node's IMDS. /metadata/identity is the one
 * category left out: NMI answers its token route itself and forwards nothing else under it.
 */
export const FORWARDED_CATEGORIES = ["instance", "attested", "scheduledevents", "versions", "loadbalancer"] as const;

/** The query parameters that name an identity on the token routes: a request may use one of them. */
export const IDENTITY_SELECTORS = ["client_id", "object_id", "msi_res_id", "mi_res_id"] as const;

/** Longest request-target NMI reads (IMDS URLs are a few hundred characters); longer ones get 414. */
export const MAX_TARGET_LENGTH = 4096;

export type Route =
  /** The token route, sent exactly as TOKEN_PATH (trailing slash allowed). */
  | "token"
  /** /host/token, sent exactly (trailing slash allowed): node agents' route, served to host addresses only. */
  | "host-token"
  /** An IMDS path of a FORWARDED_CATEGORIES category: forwarded as the canonical path. */
  | "imds"
  | "healthz"
  | "metrics";

export type RefusalReason =
  /** The request-target or a header is not something NMI can read one way only. */
  | "malformed-request"
  /** Canonicalizes to the token (or host-token) route but was not sent exactly as it. */
  | "non-canonical-token-path"
  /** Under /metadata/identity but not the token route: never forwarded. */
  | "identity-path"
  | "target-too-long"
  | "method-not-allowed"
  | "missing-metadata-header"
  /** A body on a request that takes none. */
  | "unexpected-body"
  /** --block-instance-metadata and a /metadata/instance path. */
  | "instance-metadata-blocked"
  /** Well-formed, but not an IMDS path NMI forwards. */
  | "not-forwarded";

export interface Refusal {
  status: 400 | 403 | 404 | 405 | 414;
  reason: RefusalReason;
  /** One line saying what was wrong (never echoes more than the canonical path). */
  message: string;
  /** The route the request was meant for, when known (for the log and the response body). */
  route?: Route;
  /** The canonical path, when the target could be canonicalized. */
  path?: string;
  /** The methods the route takes (405). */
  allow?: string[];
  /** The decoded query, when it could be read (to log which identity was asked for). */
  query?: ReadonlyArray<readonly [string, string]>;
}

export interface CanonicalRequest {
  route: Route;
  method: string;
  /** The canonical path: what is routed on and, for forwarded routes, the only path IMDS is sent. */
  path: string;
  /** Decoded query pairs in the order sent; keys unique case-insensitively. */
  query: ReadonlyArray<readonly [string, string]>;
  /** The query re-serialized from `query` ("" or "?k=v&..."): what is forwarded, never the raw text. */
  search: string;
}

export type CanonicalResult = { ok: true; request: CanonicalRequest } | { ok: false; refusal: Refusal };

export interface RequestInput {
  method: string;
  /** The request-target exactly as on the request line (Node's req.url). */
  target: string;
  /** Node's req.rawHeaders: names and values alternating, duplicates kept. */
  rawHeaders: readonly string[];
  /** "1.1" or "1.0" (Node's req.httpVersion): HTTP/1.1 requires a Host header, 1.0 does not. */
  httpVersion?: string;
}

export interface CanonicalOptions {
  /**
   * Authorities an absolute-form target may name: "host" or "host:port" exactly (the metadata address and port,
   * this node's addresses with NMI's port). Anything else is refused.
   */
  authorities: ReadonlySet<string>;
  /** Whether the Metadata: true header is required on IMDS routes (--metadata-header-required). */
  metadataHeaderRequired: boolean;
  /** --block-instance-metadata: /metadata/instance is refused with 403 (before any other check, as upstream). */
  blockInstanceMetadata: boolean;
}

/** The value of a query parameter, its key matched case-insensitively (keys are unique, see above). */
export function queryParam(request: Pick<CanonicalRequest, "query">, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return request.query.find(([k]) => k.toLowerCase() === wanted)?.[1];
}

const refuse = (status: Refusal["status"], reason: RefusalReason, message: string, extra: Partial<Refusal> = {}): CanonicalResult => ({ ok: false, refusal: { status, reason, message, ...extra } });
const malformed = (message: string, extra: Partial<Refusal> = {}) => refuse(400, "malformed-request", message, extra);

/** Visible ASCII only: no controls, no space, no DEL, nothing above 0x7E. */
const VISIBLE_ASCII = /^[\x21-\x7e]*$/;
/** Decoded path text that no IMDS path contains and that servers disagree on: query/fragment markers, path
 * parameters, a second round of percent-encoding, and anything outside visible ASCII (look-alikes included). */
const AMBIGUOUS_IN_PATH = /[?#;%]|[^\x21-\x7e]/;
/** What a forwarded path segment may hold (IMDS's categories and its route-parameter filters). */
const FORWARDABLE_SEGMENT = /^[A-Za-z0-9_-]+$/;
const QUERY_KEY = /^[A-Za-z0-9_.-]+$/;

/** Percent-decodes to bytes, refusing a "%" that does not start a valid triplet. */
function percentDecode(text: string, plusIsSpace: boolean): Buffer | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === "+" && plusIsSpace) bytes.push(0x20);
    else bytes.push(c.charCodeAt(0));
  }
  return Buffer.from(bytes);
}

/** The request-target in origin form (path and query), or why it cannot be read. */
function originForm(target: string, authorities: ReadonlySet<string>): { path: string; query?: string } | CanonicalResult {
  if (target.length > MAX_TARGET_LENGTH) return refuse(414, "target-too-long", `request-target longer than ${MAX_TARGET_LENGTH} characters`);
  if (!VISIBLE_ASCII.test(target)) return malformed("request-target holds characters outside visible ASCII");
  if (target.includes("#")) return malformed("request-target holds a fragment");
  let rest = target;
  const absolute = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?]*)/.exec(target);
  if (absolute) {
    if (absolute[1].toLowerCase() !== "http") return malformed(`absolute-form request-target with scheme ${absolute[1]}: only http is served`);
    const authority = absolute[2].toLowerCase();
    if (!authorities.has(authority)) return malformed("absolute-form request-target names a host that is neither the metadata address nor this node");
    rest = target.slice(absolute[0].length) || "/";
  }
  if (!rest.startsWith("/")) return malformed("request-target is neither origin form nor absolute form");
  const q = rest.indexOf("?");
  return q < 0 ? { path: rest } : { path: rest.slice(0, q), query: rest.slice(q + 1) };
}

/** The canonical segments of a raw path, or why there are none. */
function canonicalSegments(rawPath: string): string[] | string {
  const decoded = percentDecode(rawPath, false);
  if (!decoded) return "path holds a malformed percent-encoding";
  const text = decoded.toString("latin1");
  if (AMBIGUOUS_IN_PATH.test(text)) return "path holds encoded query or fragment markers, path parameters, double encoding or non-ASCII characters";
  const segments: string[] = [];
  for (const segment of text.replace(/\\/g, "/").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (segments.length === 0) return "path climbs above the root";
      segments.pop();
      continue;
    }
    // Windows servers drop trailing dots from a segment ("token." is "token" there).
    if (segment.endsWith(".")) return "path segment ends with a dot";
    segments.push(segment);
  }
  return segments;
}

/** Decoded query pairs, or why the query cannot be read one way only. */
function canonicalQuery(raw: string | undefined): Array<[string, string]> | string {
  if (raw === undefined || raw === "") return [];
  // Some servers split on ";" as on "&": a value holding one would be read two ways.
  if (raw.includes(";")) return "query holds a ';'";
  const pairs: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const part of raw.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = percentDecode(eq < 0 ? part : part.slice(0, eq), true);
    const value = percentDecode(eq < 0 ? "" : part.slice(eq + 1), true);
    if (!key || !value) return "query holds a malformed percent-encoding";
    const k = key.toString("latin1");
    const v = value.toString("latin1");
    if (!QUERY_KEY.test(k)) return "query holds a parameter name that is not plain ASCII letters, digits, '_', '.' or '-'";
    if (/[^\x20-\x7e]/.test(v)) return `query parameter ${k} holds control or non-ASCII characters`;
    // IMDS refuses repeated parameters; other servers differ on whether the first or the last one counts.
    if (seen.has(k.toLowerCase())) return `query parameter ${k} is given more than once`;
    seen.add(k.toLowerCase());
    pairs.push([k, v]);
  }
  return pairs;
}

const serialize = (pairs: ReadonlyArray<readonly [string, string]>) => (pairs.length ? "?" + pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&") : "");

/** The route a canonical path is, and whether the raw path was its exact spelling. */
function classify(segments: string[], rawPath: string): { route: Route; path: string } | CanonicalResult {
  const lower = segments.map((s) => s.toLowerCase());
  const path = "/" + segments.join("/");
  const lowerPath = "/" + lower.join("/");
  const exactly = (canonical: string, metadataAnyCase: boolean) => {
    const raw = rawPath.endsWith("/") && rawPath.length > 1 ? rawPath.slice(0, -1) : rawPath;
    return metadataAnyCase ? /^\/metadata(?=\/)/i.test(raw) && "/metadata" + raw.slice("/metadata".length) === canonical : raw === canonical;
  };
  if (lowerPath === TOKEN_PATH) {
    return exactly(TOKEN_PATH, true) ? { route: "token", path: TOKEN_PATH } : refuse(400, "non-canonical-token-path", "the token route must be sent exactly as /metadata/identity/oauth2/token", { route: "token", path: TOKEN_PATH });
  }
  if (lower[0] === "metadata" && lower[1] === "identity") return refuse(400, "identity-path", "nothing under /metadata/identity but the token route is served", { path: lowerPath });
  if (lowerPath === HOST_TOKEN_PATH) {
    return exactly(HOST_TOKEN_PATH, false) ? { route: "host-token", path: HOST_TOKEN_PATH } : refuse(400, "non-canonical-token-path", "the host token route must be sent exactly as /host/token/", { route: "host-token", path: HOST_TOKEN_PATH });
  }
  if (lower[0] === "metadata" && (FORWARDED_CATEGORIES as readonly string[]).includes(lower[1] ?? "")) {
    const rest = segments.slice(2);
    if (!rest.every((s) => FORWARDABLE_SEGMENT.test(s))) return malformed("an IMDS path segment holds characters other than letters, digits, '_' and '-'", { route: "imds" });
    return { route: "imds", path: ["", "metadata", lower[1], ...rest].join("/") };
  }
  if (path === "/healthz") return { route: "healthz", path };
  if (path === "/metrics") return { route: "metrics", path };
  return refuse(404, "not-forwarded", `NMI serves the token route and forwards only ${FORWARDED_CATEGORIES.map((c) => `/metadata/${c}`).join(", ")}`, { path: lowerPath });
}

/** The methods each route takes: IMDS takes GET only, and POST on scheduled events (to acknowledge them). */
function allowedMethods(route: Route, path: string): string[] {
  if (route === "imds" && path.startsWith("/metadata/scheduledevents")) return ["GET", "POST"];
  return ["GET"];
}

/** The Metadata header: exactly one, exactly "true" (upstream's check). */
function metadataHeader(rawHeaders: readonly string[]): "true" | "missing" | "invalid" {
  const all: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === "metadata") all.push(rawHeaders[i + 1]);
  if (all.length === 0) return "missing";
  return all.length === 1 && all[0] === "true" ? "true" : "invalid";
}

function hasBody(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === "transfer-encoding") return true;
    if (name === "content-length" && rawHeaders[i + 1].trim() !== "0") return true;
  }
  return false;
}

/**
 * Canonicalizes a request and applies the rules that depend on its shape alone, in this order: the target
 * (414, 400), the route (400 for variants of the token routes, 404 for what is not forwarded), the method (405),
 * the Metadata header (400), a body where none is taken (400).
 */
export function canonicalRequest(input: RequestInput, options: CanonicalOptions): CanonicalResult {
  // RFC 9112 3.2: a server must answer 400 to an HTTP/1.1 request without exactly one Host header.
  const hosts = input.rawHeaders.filter((_, i) => i % 2 === 0 && input.rawHeaders[i].toLowerCase() === "host").length;
  if (input.httpVersion === "1.1" && hosts !== 1) return malformed(hosts ? "more than one Host header" : "an HTTP/1.1 request without a Host header");
  const origin = originForm(input.target, options.authorities);
  if ("ok" in origin) return origin;
  const segments = canonicalSegments(origin.path);
  if (typeof segments === "string") return malformed(segments);
  const query = canonicalQuery(origin.query);
  if (typeof query === "string") return malformed(query);
  const classified = classify(segments, origin.path);
  if ("ok" in classified) {
    const refusal = { ...(classified as { ok: false; refusal: Refusal }).refusal, query };
    // Upstream checks the Metadata header before anything else on proxied paths: an unknown path without it
    // is answered as IMDS answers it (the header is missing), not with 404.
    if (refusal.status === 404 && options.metadataHeaderRequired && metadataHeader(input.rawHeaders) !== "true") {
      return refuse(400, "missing-metadata-header", "Required metadata header not specified", { path: refusal.path, query });
    }
    return { ok: false, refusal };
  }
  const { route, path } = classified;
  if (route === "imds" && options.blockInstanceMetadata && path.startsWith("/metadata/instance")) {
    return refuse(403, "instance-metadata-blocked", "Request blocked by AAD Pod Identity NMI", { route, path, query });
  }
  const method = input.method.toUpperCase();
  const allow = allowedMethods(route, path);
  if (!allow.includes(method)) return refuse(405, "method-not-allowed", `Http method not allowed: path = "${path}", method = "${method}"`, { route, path, allow, query });
  if ((route === "token" || route === "imds") && options.metadataHeaderRequired && metadataHeader(input.rawHeaders) !== "true") {
    return refuse(400, "missing-metadata-header", "Required metadata header not specified", { route, path, query });
  }
  if (method !== "POST" && hasBody(input.rawHeaders)) return refuse(400, "unexpected-body", `a ${method} request carries a body`, { route, path, query });
  const selectors = IDENTITY_SELECTORS.filter((k) => queryParam({ query }, k) !== undefined);
  if ((route === "token" || route === "host-token") && selectors.length > 1) {
    // IMDS takes one of them; which one wins differs between servers (upstream NMI: client_id first).
    return malformed(`the request names more than one identity (${selectors.join(", ")})`, { route, path, query });
  }
  return { ok: true, request: { route, method, path, query, search: serialize(query) } };
}
