import type { Readable } from "node:stream";
import type { Handler, SandboxRequest, SandboxResponse } from "../http/types.js";
import type { Cluster } from "./cluster.js";
import type { DeleteOptions, ListOptions, PropagationPolicy } from "./registry/requests.js";
import { acceptedConversion, decodeObject, decodePatch, errorResponse, jsonResponse, statusResponse } from "./codec.js";
import { schemaOf } from "./crd.js";
import {
  aggregatedContentType,
  aggregatedDiscovery,
  aggregatedDiscoveryVersion,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  versionInfo,
} from "./discovery.js";
import { Errors } from "./errors.js";
import { openApiV2Json, openApiV2Protobuf, openApiV3Document, openApiV3Root } from "./openapi.js";
import { parsePath, requestAttributes, type ResourcePath } from "./paths.js";
import { authorize, forbidden, type RbacSource, type UserInfo } from "./rbac.js";
import { storageKey } from "./registry/resources.js";
import { reviewAccess } from "./review.js";
import { requestToken } from "./token-request.js";
import { patchScale, replicasOf, scaleOf } from "./scale.js";
import { toTable, type IncludeObject } from "./table.js";
import type { KubeObject } from "./types.js";
import type { ResourceType } from "./registry/resources.js";
import { apiVersionOf, isPlainObject } from "./types.js";
import type { WatchHub } from "./watch-stream.js";

/**
 * The HTTP face of the API server, in the order kube-apiserver's filters run: health endpoints, authentication
 * (401), authorization (403), then discovery/OpenAPI or the resource verbs. Every failure is a Status.
 */

/** The `pods/{name}/log` query, parsed. */
export interface PodLogQuery {
  container?: string;
  follow?: boolean;
  previous?: boolean;
  timestamps?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  limitBytes?: number;
}

/** Answers `pods/log` (the kubelet knows the containers' output); a string, or a stream when following. */
export type PodLogSource = (namespace: string, name: string, query: PodLogQuery, signal: AbortSignal) => string | Readable;

export interface HandlerContext {
  cluster: Cluster;
  watches: WatchHub;
  serverAddress: () => string;
  bookmarkIntervalMs: number;
  podLogs?: PodLogSource;
}

const HEALTH = new Set(["/healthz", "/livez", "/readyz"]);

function rbacSource(cluster: Cluster): RbacSource {
  const rbac = (plural: string) => storageKey({ group: "rbac.authorization.k8s.io", plural });
  return {
    clusterRoleBindings: () => cluster.storage.list(rbac("clusterrolebindings")),
    roleBindings: (ns) => cluster.storage.list(rbac("rolebindings"), ns),
    clusterRole: (name) => cluster.storage.get(rbac("clusterroles"), undefined, name),
    role: (ns, name) => cluster.storage.get(rbac("roles"), ns, name),
  };
}

function userAgentManager(req: SandboxRequest): string {
  const ua = String(req.headers["user-agent"] ?? "unknown");
  return ua.split("/")[0].slice(0, 128) || "unknown";
}

function dryRun(query: URLSearchParams): boolean {
  const values = query.getAll("dryRun");
  for (const v of values) if (v !== "All") throw Errors.badRequest(`Invalid dryRun value: ${v}. Allowed values: All`);
  return values.length > 0;
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw Errors.badRequest(`invalid value for ${name}: ${v}`);
  return n;
}

function listMeta(result: { resourceVersion: string; continue?: string; remainingItemCount?: number }): Record<string, unknown> {
  const meta: Record<string, unknown> = { resourceVersion: result.resourceVersion };
  if (result.continue) meta.continue = result.continue;
  if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount;
  return meta;
}

function partial(o: KubeObject): Record<string, unknown> {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

function includeObject(query: URLSearchParams): IncludeObject {
  const v = query.get("includeObject");
  return v === "None" || v === "Object" ? v : "Metadata";
}

function deleteOptions(req: SandboxRequest): DeleteOptions {
  const opts: DeleteOptions = { dryRun: dryRun(req.query) };
  let body: Record<string, unknown> = {};
  if (req.body.length > 0) {
    const parsed = decodeObject(req);
    if (isPlainObject(parsed)) body = parsed;
  }
  const policy = (req.query.get("propagationPolicy") ?? body.propagationPolicy) as string | undefined;
  if (policy !== undefined && policy !== "Foreground" && policy !== "Background" && policy !== "Orphan") {
    throw Errors.invalid({ group: "meta.k8s.io", kind: "DeleteOptions" }, "", [
      { type: "FieldValueNotSupported", field: "propagationPolicy", value: policy, detail: 'supported values: "Foreground", "Background", "Orphan", "nil"' },
    ]);
  }
  opts.propagationPolicy = policy as PropagationPolicy | undefined;
  const orphan = req.query.get("orphanDependents") ?? body.orphanDependents;
  if (opts.propagationPolicy === undefined && (orphan === true || orphan === "true")) opts.propagationPolicy = "Orphan";
  const grace = req.query.get("gracePeriodSeconds") ?? body.gracePeriodSeconds;
  if (grace !== undefined && grace !== null) {
    const seconds = Number(grace);
    if (!Number.isInteger(seconds)) throw Errors.badRequest(`invalid gracePeriodSeconds: ${String(grace)}`);
    opts.gracePeriodSeconds = Math.max(0, seconds);
  }
  if (isPlainObject(body.preconditions)) opts.preconditions = body.preconditions as DeleteOptions["preconditions"];
  if (Array.isArray(body.dryRun) && body.dryRun.includes("All")) opts.dryRun = true;
  return opts;
}

export function kubeHandler(ctx: HandlerContext): Handler {
  const { cluster } = ctx;
  const source = rbacSource(cluster);

  function resourceType(p: ResourcePath): ResourceType {
    const rt = cluster.registry.byPlural(p.group, p.version, p.plural);
    if (!rt) throw Errors.pathNotFound();
    const served = p.subresource === undefined || (p.subresource === "status" && rt.statusSubresource) || (p.subresource === "scale" && rt.scaleSubresource === true) || rt.subresources.some((s) => s.name === p.subresource);
    if (!served) throw Errors.pathNotFound();
    if (rt.namespaced && p.namespace === undefined && p.name !== undefined) throw Errors.pathNotFound();
    if (!rt.namespaced && p.namespace !== undefined) throw Errors.pathNotFound();
    return rt;
  }

  function nonResource(req: SandboxRequest): SandboxResponse {
    if (req.method !== "GET" && req.method !== "HEAD") return statusResponse(Errors.methodNotAllowed().status);
    const path = req.path.replace(/\/+$/, "") || "/";
    const accept = req.headers.accept;
    const aggregated = aggregatedDiscoveryVersion(accept);
    if (path === "/version") return jsonResponse(200, versionInfo());
    // Service-account issuer discovery (ServiceAccountIssuerDiscovery), as kube-apiserver serves it.
    if (path === "/.well-known/openid-configuration") return jsonResponse(200, cluster.serviceAccountIssuer.discovery());
    if (path === "/openid/v1/jwks") return jsonResponse(200, cluster.serviceAccountIssuer.jwks(), "application/jwk-set+json");
    if (path === "/api" || path === "/apis") {
      const core = path === "/api";
      if (aggregated) return jsonResponse(200, aggregatedDiscovery(cluster.registry, core, aggregated), aggregatedContentType(aggregated));
      return jsonResponse(200, core ? apiVersions(ctx.serverAddress()) : apiGroupList(cluster.registry));
    }
    if (path === "/openapi/v2") {
      if ((accept ?? "").includes("protobuf")) {
        return { status: 200, headers: { "content-type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" }, body: openApiV2Protobuf() };
      }
      return jsonResponse(200, openApiV2Json());
    }
    if (path === "/openapi/v3") return jsonResponse(200, openApiV3Root(cluster.registry));
    const m = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (m) {
      const [group, version] = m[1] ? ["", m[1]] : [m[2], m[3]];
      const doc = openApiV3Document(cluster.registry, group, version, (t) => {
        const crd = t.crdName ? cluster.storage.get(storageKey({ group: "apiextensions.k8s.io", plural: "customresourcedefinitions" }), undefined, t.crdName) : undefined;
        return crd ? schemaOf(crd, t.version) : undefined;
      });
      if (doc) return jsonResponse(200, doc);
    }
    return statusResponse(Errors.pathNotFound().status);
  }

  function discovery(p: { kind: "groupVersion"; group: string; version: string } | { kind: "group"; group: string }, req: SandboxRequest): SandboxResponse {
    if (req.method !== "GET") return statusResponse(Errors.methodNotAllowed().status);
    if (p.kind === "group") {
      const g = apiGroup(cluster.registry, p.group);
      return g ? jsonResponse(200, g) : statusResponse(Errors.pathNotFound().status);
    }
    if (cluster.registry.inGroupVersion(p.group, p.version).length === 0) return statusResponse(Errors.pathNotFound().status);
    return jsonResponse(200, apiResourceList(cluster.registry, p.group, p.version));
  }

  function readResponse(req: SandboxRequest, rt: ResourceType, objects: KubeObject[], meta: Record<string, unknown>, single: boolean): SandboxResponse {
    const conversion = acceptedConversion(req.headers.accept);
    if (conversion === "Table") return jsonResponse(200, toTable(rt, objects, meta, includeObject(req.query)));
    if (conversion === "PartialObjectMetadata") {
      if (single) return jsonResponse(200, partial(objects[0]));
      return jsonResponse(200, { kind: "PartialObjectMetadataList", apiVersion: "meta.k8s.io/v1", metadata: meta, items: objects.map(partial) });
    }
    if (single) return jsonResponse(200, objects[0]);
    return jsonResponse(200, { kind: rt.listKind, apiVersion: apiVersionOf(rt), metadata: meta, items: objects });
  }

  function watch(req: SandboxRequest, rt: ResourceType, p: ResourcePath): SandboxResponse {
    const conversion = acceptedConversion(req.headers.accept);
    const include = includeObject(req.query);
    const fieldSelector = [req.query.get("fieldSelector"), p.name ? `metadata.name=${p.name}` : ""].filter(Boolean).join(",");
    const stream = ctx.watches.start(
      cluster,
      rt,
      {
        namespace: p.namespace,
        labelSelector: req.query.get("labelSelector") ?? undefined,
        fieldSelector: fieldSelector || undefined,
        resourceVersion: req.query.get("resourceVersion") ?? undefined,
        timeoutSeconds: intParam(req.query, "timeoutSeconds"),
        allowBookmarks: req.query.get("allowWatchBookmarks") === "true",
        bookmarkIntervalMs: ctx.bookmarkIntervalMs,
        render: (o, first) =>
          conversion === "Table" ? toTable(rt, [o], { resourceVersion: o.metadata.resourceVersion }, include, !first) : conversion === "PartialObjectMetadata" ? partial(o) : o,
      },
      req.signal,
    );
    return { status: 200, headers: { "content-type": "application/json", "cache-control": "no-cache, private" }, body: stream };
  }

  function podLog(req: SandboxRequest, p: ResourcePath, rt: ResourceType, verb: string): SandboxResponse {
    if (verb !== "get") throw Errors.methodNotAllowed();
    const flag = (name: string) => req.query.get(name) === "true";
    const query: PodLogQuery = {
      container: req.query.get("container") || undefined,
      follow: flag("follow"),
      previous: flag("previous"),
      timestamps: flag("timestamps"),
      tailLines: intParam(req.query, "tailLines"),
      sinceSeconds: intParam(req.query, "sinceSeconds"),
      limitBytes: intParam(req.query, "limitBytes"),
    };
    const pod = cluster.store.get(rt, p.namespace, p.name!);
    if (!ctx.podLogs) {
      const container = query.container ?? ((pod.spec as { containers?: { name: string }[] })?.containers?.[0]?.name ?? "");
      throw Errors.badRequest(`container "${container}" in pod "${p.name}" is waiting to start: no node runs it`);
    }
    const body = ctx.podLogs(p.namespace ?? "default", p.name!, query, req.signal);
    return { status: 200, headers: { "content-type": "text/plain" }, body };
  }

  function scaleRequest(req: SandboxRequest, p: ResourcePath, rt: ResourceType, verb: string): SandboxResponse {
    const live = cluster.store.get(rt, p.namespace, p.name!);
    if (verb === "get") return jsonResponse(200, scaleOf(live));
    let wanted: unknown;
    if (verb === "update") wanted = decodeObject(req);
    else if (verb === "patch") {
      const { type, patch } = decodePatch(req, true);
      wanted = patchScale(scaleOf(live), type, patch);
    } else throw Errors.methodNotAllowed();
    const replicas = replicasOf(wanted, live, rt);
    const fieldManager = req.query.get("fieldManager") ?? userAgentManager(req);
    const updated = cluster.store.update(rt, p.namespace, p.name!, { ...live, spec: { ...(live.spec as object), replicas } }, { dryRun: dryRun(req.query), fieldManager });
    return jsonResponse(200, scaleOf(updated));
  }

  /** TokenRequest (`kubectl create token SA`): a signed, expiring JWT (token-request.ts). */
  async function tokenRequest(req: SandboxRequest, p: ResourcePath, verb: string): Promise<SandboxResponse> {
    if (verb !== "create") throw Errors.methodNotAllowed();
    const body = req.body.length ? decodeObject(req) : {};
    return jsonResponse(201, await requestToken(cluster, p.namespace ?? "default", p.name!, body));
  }

  async function resourceRequest(req: SandboxRequest, user: UserInfo, p: ResourcePath, verb: string): Promise<SandboxResponse> {
    const rt = resourceType(p);
    if (p.subresource === "log") return podLog(req, p, rt, verb);
    if (p.subresource === "scale") return scaleRequest(req, p, rt, verb);
    if (p.subresource === "token") return tokenRequest(req, p, verb);
    if (!rt.verbs.includes(verb) && !(p.subresource && ["get", "update", "patch"].includes(verb))) throw Errors.methodNotAllowed();
    const ns = p.namespace;
    const write = {
      dryRun: dryRun(req.query),
      fieldManager: req.query.get("fieldManager") ?? undefined,
      subresource: p.subresource,
      fieldValidation: req.query.get("fieldValidation") ?? undefined,
    };
    const listOpts: ListOptions = {
      namespace: ns,
      labelSelector: req.query.get("labelSelector") ?? undefined,
      fieldSelector: req.query.get("fieldSelector") ?? undefined,
      limit: intParam(req.query, "limit"),
      continue: req.query.get("continue") ?? undefined,
    };
    switch (verb) {
      case "get":
        return readResponse(req, rt, [cluster.store.get(rt, ns, p.name!)], {}, true);
      case "list": {
        const result = cluster.store.list(rt, listOpts);
        return readResponse(req, rt, result.items, listMeta(result), false);
      }
      case "watch":
        return watch(req, rt, p);
      case "create": {
        if (p.name !== undefined) throw Errors.methodNotAllowed();
        const body = decodeObject(req) as KubeObject;
        if (rt.virtual) return jsonResponse(201, reviewAccess(rt.kind, body, user, (u, a) => authorize(source, u, a)));
        return jsonResponse(201, cluster.store.create(rt, ns, body, { ...write, fieldManager: write.fieldManager ?? userAgentManager(req) }));
      }
      case "update":
        return jsonResponse(200, cluster.store.update(rt, ns, p.name!, decodeObject(req) as KubeObject, { ...write, fieldManager: write.fieldManager ?? userAgentManager(req) }));
      case "patch": {
        const { type, patch } = decodePatch(req, rt.crdName === undefined);
        const force = req.query.get("force") === "true";
        const fieldManager = type === "apply" ? write.fieldManager : (write.fieldManager ?? userAgentManager(req));
        const existed = type === "apply" ? cluster.storage.get(storageKey(rt), rt.namespaced ? ns : undefined, p.name!) !== undefined : true;
        const out = cluster.store.patch(rt, ns, p.name!, type, patch, { ...write, fieldManager, force });
        return jsonResponse(existed ? 200 : 201, out);
      }
      case "delete": {
        const result = cluster.store.delete(rt, ns, p.name!, deleteOptions(req));
        // kube-apiserver: 202 only while finalizers hold the object; a graceful pod deletion is 200.
        return jsonResponse(result.deleted || result.graceful ? 200 : 202, result.object);
      }
      case "deletecollection": {
        const items = cluster.store.deleteCollection(rt, listOpts, deleteOptions(req));
        return jsonResponse(200, { kind: rt.listKind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(cluster.storage.revision) }, items });
      }
      default:
        throw Errors.methodNotAllowed();
    }
  }

  async function handle(req: SandboxRequest): Promise<SandboxResponse> {
    const path = req.path.replace(/\/+$/, "") || "/";
    if (HEALTH.has(path) || [...HEALTH].some((h) => path.startsWith(`${h}/`))) {
      return { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: "ok" };
    }
    const user = await cluster.tokens.authenticate(req.headers);
    if (!user) return statusResponse(Errors.unauthorized().status);
    const parsed = parsePath(path);
    const attrs = requestAttributes(req.method, path, req.query, parsed);
    if (!authorize(source, user, attrs)) throw forbidden(user, attrs);
    const p = parsed.path;
    switch (p.kind) {
      case "nonResource":
        return nonResource(req);
      case "group":
      case "groupVersion":
        return discovery(p, req);
      case "invalid":
        throw Errors.pathNotFound();
      case "resource":
        return resourceRequest(req, user, p, attrs.verb);
    }
  }

  return async (req) => {
    try {
      return await handle(req);
    } catch (err) {
      return errorResponse(err);
    }
  };
}
