import type { Strategy } from "./strategy.js";
import type { ListMergeRule, PrinterColumn } from "../types.js";
import { apiVersionOf } from "../types.js";

/**
 * The registry of served resources: the built-in kinds (kinds/, a fixed table, as kube-apiserver compiles them in)
 * and those that CustomResourceDefinitions add at run time.
 */

export const STANDARD_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** Rules every object has (metadata lists). */
export const METADATA_RULES: Record<string, ListMergeRule> = {
  "metadata.ownerReferences": { type: "map", keys: ["uid"] },
  "metadata.finalizers": { type: "set" },
};

/** How a built-in kind is served: its names, subresources and merge rules, and its strategy. */
export interface KindSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  status?: boolean;
  scale?: boolean;
  generation?: boolean;
  listRules?: Record<string, ListMergeRule>;
  verbs?: string[];
  subresources?: ExtraSubresource[];
  virtual?: boolean;
  strategy: Strategy;
}

export function builtinResource(spec: KindSpec): ResourceType {
  return {
    group: spec.group,
    version: spec.version,
    kind: spec.kind,
    listKind: `${spec.kind}List`,
    plural: spec.plural,
    singular: spec.kind.toLowerCase(),
    namespaced: spec.namespaced,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    verbs: spec.verbs ?? STANDARD_VERBS,
    statusSubresource: spec.status ?? false,
    scaleSubresource: spec.scale ?? false,
    generation: spec.generation ?? false,
    printerColumns: [],
    listRules: { ...METADATA_RULES, ...(spec.listRules ?? {}) },
    subresources: spec.subresources ?? [],
    ...(spec.virtual ? { virtual: true } : {}),
    strategy: spec.strategy,
  };
}

/** Everything the server knows about one served resource (one group/version/plural). */
export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** A /status subresource: main-resource writes keep status, status writes keep everything else. */
  statusSubresource: boolean;
  /** A /scale subresource (autoscaling/v1 Scale over spec.replicas), as Deployments and ReplicaSets have. */
  scaleSubresource?: boolean;
  /** metadata.generation is bumped when anything but metadata and status changes. */
  generation: boolean;
  printerColumns: PrinterColumn[];
  /** Merge rules by dotted field path (`spec.template.spec.containers`), for SMP and SSA. */
  listRules: Record<string, ListMergeRule>;
  /** Set for resources a CustomResourceDefinition defines. */
  crdName?: string;
  /** The version the CRD stores; other versions are served by rewriting apiVersion (strategy None). */
  storageVersion?: string;
  /** Subresources besides status and scale, each served by its own handler (pods/log, serviceaccounts/token). */
  subresources: ExtraSubresource[];
  /** Answered on create, never stored (access reviews). */
  virtual?: boolean;
  /** What this kind brings to the generic store. */
  strategy: Strategy;
}

/** A subresource with a handler of its own, as discovery lists it. */
export interface ExtraSubresource {
  name: string;
  verbs: string[];
  /** The kind it answers with when not the resource's own (TokenRequest). */
  responseKind?: { group: string; version: string; kind: string };
}

/** Where objects of a resource are kept: one bucket per group and plural, whatever version is served. */
export function storageKey(rt: Pick<ResourceType, "group" | "plural">): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

export class ResourceRegistry {
  private readonly builtins: ResourceType[];
  private custom: ResourceType[] = [];

  constructor(kinds: KindSpec[]) {
    this.builtins = kinds.map(builtinResource);
  }

  all(): ResourceType[] {
    return [...this.builtins, ...this.custom];
  }

  /** Replaces the resources one CRD serves (empty to remove them). */
  setCustom(crdName: string, types: ResourceType[]): void {
    this.custom = [...this.custom.filter((t) => t.crdName !== crdName), ...types];
  }

  byPlural(group: string, version: string, plural: string): ResourceType | undefined {
    return this.all().find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.all().find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  /** Served groups in discovery order: core first, then built-in groups, then custom ones. */
  groups(): { name: string; versions: string[] }[] {
    const out: { name: string; versions: string[] }[] = [];
    for (const t of this.all()) {
      let g = out.find((x) => x.name === t.group);
      if (!g) out.push((g = { name: t.group, versions: [] }));
      if (!g.versions.includes(t.version)) g.versions.push(t.version);
    }
    return out;
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.version === version);
  }

  /** A group's preferred version: the first CRD-declared (storage) one or the only built-in one. */
  preferredVersion(group: string): string | undefined {
    const types = this.all().filter((t) => t.group === group);
    return (types.find((t) => t.storageVersion === t.version) ?? types[0])?.version;
  }
}
