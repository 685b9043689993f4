import { acceptParameters } from "./codec.js";
import type { ResourceRegistry } from "./registry/resources.js";
import type { ExtraSubresource, ResourceType } from "./registry/resources.js";

/**
 * Discovery as kube-apiserver serves it: /version, the legacy documents (/api, /api/v1, /apis, /apis/<g>,
 * /apis/<g>/<v>) and the aggregated form (apidiscovery.k8s.io v2 and v2beta1) that current clients ask for.
 */

export const SERVER_VERSION = { major: "1", minor: "31", gitVersion: "v1.31.2" };

export function versionInfo(): Record<string, string> {
  return {
    ...SERVER_VERSION,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2024-10-22T00:00:00Z",
    goVersion: "go1.22.8",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

const SUBRESOURCE_VERBS = ["get", "patch", "update"];

/** A resource's subresources as discovery lists them: status, scale, then its own (pods/log, serviceaccounts/token). */
function subresourcesOf(t: ResourceType): ExtraSubresource[] {
  const out: ExtraSubresource[] = [];
  if (t.statusSubresource) out.push({ name: "status", verbs: SUBRESOURCE_VERBS });
  if (t.scaleSubresource) out.push({ name: "scale", verbs: SUBRESOURCE_VERBS, responseKind: { group: "autoscaling", version: "v1", kind: "Scale" } });
  return [...out, ...t.subresources];
}

function gv(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }] };
}

export function apiResourceList(registry: ResourceRegistry, group: string, version: string): Record<string, unknown> {
  const resources: Record<string, unknown>[] = [];
  for (const t of registry.inGroupVersion(group, version)) {
    const r: Record<string, unknown> = { name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: t.verbs };
    if (t.shortNames.length) r.shortNames = t.shortNames;
    if (t.categories.length) r.categories = t.categories;
    resources.push(r);
    for (const s of subresourcesOf(t)) {
      resources.push({ name: `${t.plural}/${s.name}`, singularName: "", namespaced: t.namespaced, ...(s.responseKind ?? { kind: t.kind }), verbs: s.verbs });
    }
  }
  const list: Record<string, unknown> = { kind: "APIResourceList", groupVersion: gv(group, version), resources };
  if (group) list.apiVersion = "v1";
  return list;
}

function groupVersions(registry: ResourceRegistry, name: string): Record<string, unknown> {
  const versions = registry.groups().find((g) => g.name === name)?.versions ?? [];
  const preferred = registry.preferredVersion(name) ?? versions[0];
  return {
    name,
    versions: versions.map((v) => ({ groupVersion: gv(name, v), version: v })),
    preferredVersion: { groupVersion: gv(name, preferred), version: preferred },
  };
}

export function apiGroupList(registry: ResourceRegistry): Record<string, unknown> {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: registry
      .groups()
      .filter((g) => g.name !== "")
      .map((g) => groupVersions(registry, g.name)),
  };
}

export function apiGroup(registry: ResourceRegistry, name: string): Record<string, unknown> | undefined {
  if (!name || !registry.groups().some((g) => g.name === name)) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...groupVersions(registry, name) };
}

/** Which aggregated discovery version the Accept header asks for first, if any. */
export function aggregatedDiscoveryVersion(accept: string | undefined): "v2" | "v2beta1" | undefined {
  for (const params of acceptParameters(accept)) {
    if (params.get("g") === "apidiscovery.k8s.io" && params.get("as") === "APIGroupDiscoveryList") {
      const v = params.get("v");
      if (v === "v2" || v === "v2beta1") return v;
    }
  }
  return undefined;
}

export function aggregatedContentType(version: "v2" | "v2beta1"): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

function resourceDiscovery(t: ResourceType): Record<string, unknown> {
  const kind = { group: t.group, version: t.version, kind: t.kind };
  const r: Record<string, unknown> = {
    resource: t.plural,
    responseKind: kind,
    scope: t.namespaced ? "Namespaced" : "Cluster",
    singularResource: t.singular,
    verbs: t.verbs,
  };
  if (t.shortNames.length) r.shortNames = t.shortNames;
  if (t.categories.length) r.categories = t.categories;
  const subresources = subresourcesOf(t).map((s) => ({ subresource: s.name, responseKind: s.responseKind ?? kind, verbs: s.verbs }));
  if (subresources.length) r.subresources = subresources;
  return r;
}

/** /api (core only) or /apis (every other group) in the aggregated form. */
export function aggregatedDiscovery(registry: ResourceRegistry, core: boolean, version: "v2" | "v2beta1"): Record<string, unknown> {
  const items = registry
    .groups()
    .filter((g) => (g.name === "") === core)
    .map((g) => {
      const preferred = registry.preferredVersion(g.name);
      const ordered = [...g.versions].sort((a, b) => (a === preferred ? -1 : b === preferred ? 1 : 0));
      return {
        metadata: { name: g.name, creationTimestamp: null },
        versions: ordered.map((v) => ({ version: v, resources: registry.inGroupVersion(g.name, v).map(resourceDiscovery), freshness: "Current" })),
      };
    });
  return { kind: "APIGroupDiscoveryList", apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}
