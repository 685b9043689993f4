import type { RequestAttributes } from "./rbac.js";

/**
 * Kubernetes request paths, parsed as kube-apiserver's RequestInfoFactory does: case-sensitive segments,
 * `/api/v1/...` and `/apis/<group>/<version>/...`, optional `namespaces/<ns>/`, the legacy `/watch/` prefix, and
 * the verb from the method plus whether a name (or ?watch) is present.
 */

export interface ResourcePath {
  kind: "resource";
  group: string;
  version: string;
  namespace?: string;
  plural: string;
  name?: string;
  subresource?: string;
}

export type ParsedPath =
  | ResourcePath
  | { kind: "nonResource" }
  /** /api/v1 and /apis/<group>/<version> */
  | { kind: "groupVersion"; group: string; version: string }
  /** /apis/<group> */
  | { kind: "group"; group: string }
  /** A path under /api or /apis that cannot name anything (404). */
  | { kind: "invalid" };

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export interface ParsedRequest {
  path: ParsedPath;
  /** The legacy `/api/v1/watch/...` form. */
  watchPrefix: boolean;
}

function resource(group: string, version: string, segs: string[]): ParsedPath {
  let rest = segs;
  let namespace: string | undefined;
  // `namespaces/<name>/status` is the namespace's own subresource, not a resource called "status" in it.
  if (rest[0] === "namespaces" && rest.length >= 3 && !(rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize"))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) return { kind: "invalid" };
  return { kind: "resource", group, version, namespace, plural: rest[0], name: rest[1], subresource: rest[2] };
}

export function parsePath(path: string): ParsedRequest {
  const segs = path.split("/").filter((s) => s.length > 0).map(decode);
  const root = segs[0];
  if (root !== "api" && root !== "apis") return { path: { kind: "nonResource" }, watchPrefix: false };
  const [group, version, rest] = root === "api" ? ["", segs[1], segs.slice(2)] : [segs[1], segs[2], segs.slice(3)];
  if (root === "apis" && segs.length === 2) return { path: { kind: "group", group: segs[1] }, watchPrefix: false };
  if (version === undefined) return { path: { kind: "nonResource" }, watchPrefix: false };
  if (rest.length === 0) return { path: { kind: "groupVersion", group, version }, watchPrefix: false };
  const watchPrefix = rest[0] === "watch";
  return { path: resource(group, version, watchPrefix ? rest.slice(1) : rest), watchPrefix };
}

function truthy(v: string | null): boolean {
  return v !== null && ["1", "t", "T", "true", "TRUE", "True"].includes(v);
}

/** The authorization attributes of a request (verb as RBAC names it). */
export function requestAttributes(method: string, rawPath: string, query: URLSearchParams, parsed: ParsedRequest): RequestAttributes {
  const p = parsed.path;
  if (p.kind !== "resource") {
    return { verb: method.toLowerCase(), isResourceRequest: false, path: rawPath, group: "", resource: "", subresource: "", namespace: "", name: "" };
  }
  let verb: string;
  switch (method) {
    case "GET":
    case "HEAD":
      verb = parsed.watchPrefix || (!p.name && truthy(query.get("watch"))) ? "watch" : p.name ? "get" : "list";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = p.name ? "delete" : "deletecollection";
      break;
    default:
      verb = method.toLowerCase();
  }
  return {
    verb,
    isResourceRequest: true,
    path: rawPath,
    group: p.group,
    resource: p.plural,
    subresource: p.subresource ?? "",
    namespace: p.namespace ?? (p.plural === "namespaces" && p.name ? p.name : ""),
    name: p.name ?? "",
  };
}
