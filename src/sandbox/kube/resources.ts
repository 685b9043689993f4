import type { ListMergeRule, ResourceType } from "./types.js";
import { apiVersionOf } from "./types.js";

/**
 * The registry of served resources: the built-in kinds (a fixed table, as kube-apiserver compiles them in) and
 * those that CustomResourceDefinitions add at run time.
 */

export const STANDARD_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

const byName: ListMergeRule = { type: "map", keys: ["name"] };
const set: ListMergeRule = { type: "set" };

/** Merge rules of a PodSpec, prefixed with where the PodSpec sits in the object. */
function podSpecRules(prefix: string): Record<string, ListMergeRule> {
  const rules: Record<string, ListMergeRule> = {
    containers: byName,
    initContainers: byName,
    ephemeralContainers: byName,
    volumes: byName,
    imagePullSecrets: byName,
    hostAliases: { type: "map", keys: ["ip"] },
  };
  for (const c of ["containers", "initContainers", "ephemeralContainers"]) {
    rules[`${c}.env`] = byName;
    rules[`${c}.volumeMounts`] = { type: "map", keys: ["mountPath"] };
    rules[`${c}.ports`] = { type: "map", keys: ["containerPort", "protocol"], keyDefaults: { protocol: "TCP" } };
    rules[`${c}.volumeDevices`] = { type: "map", keys: ["devicePath"] };
  }
  return Object.fromEntries(Object.entries(rules).map(([k, v]) => [`${prefix}.${k}`, v]));
}

const conditionsByType: ListMergeRule = { type: "map", keys: ["type"] };

/** Rules every object has (metadata lists). */
export const METADATA_RULES: Record<string, ListMergeRule> = {
  "metadata.ownerReferences": { type: "map", keys: ["uid"] },
  "metadata.finalizers": set,
};

interface BuiltinSpec {
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
}

const BUILTINS: BuiltinSpec[] = [
  { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false, shortNames: ["ns"], status: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] },
  { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false, shortNames: ["no"], status: true, listRules: { "status.addresses": { type: "map", keys: ["type"] }, "status.conditions": conditionsByType } },
  { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, shortNames: ["po"], categories: ["all"], status: true, listRules: { ...podSpecRules("spec"), "status.conditions": conditionsByType } },
  { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true, shortNames: ["sa"], listRules: { secrets: byName } },
  { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true },
  { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true, shortNames: ["cm"] },
  { group: "", version: "v1", kind: "Event", plural: "events", namespaced: true, shortNames: ["ev"] },
  { group: "", version: "v1", kind: "Endpoints", plural: "endpoints", namespaced: true, shortNames: ["ep"] },
  { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true, shortNames: ["svc"], categories: ["all"], status: true, listRules: { "spec.ports": { type: "map", keys: ["port", "protocol"] } } },
  { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true, shortNames: ["deploy"], categories: ["all"], status: true, scale: true, generation: true, listRules: { ...podSpecRules("spec.template.spec"), "status.conditions": conditionsByType } },
  { group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", namespaced: true, shortNames: ["ds"], categories: ["all"], status: true, generation: true, listRules: { ...podSpecRules("spec.template.spec"), "status.conditions": conditionsByType } },
  { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true, shortNames: ["rs"], categories: ["all"], status: true, scale: true, generation: true, listRules: { ...podSpecRules("spec.template.spec"), "status.conditions": conditionsByType } },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", namespaced: false },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding", plural: "clusterrolebindings", namespaced: false },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", namespaced: true },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", namespaced: true },
  { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true },
  // Stored and served, not enforced (the sandbox's pod network is loopback): doctor reads them as on AKS.
  { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true, shortNames: ["netpol"] },
  { group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition", plural: "customresourcedefinitions", namespaced: false, shortNames: ["crd", "crds"], categories: ["api-extensions"], status: true, generation: true },
  { group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectAccessReview", plural: "selfsubjectaccessreviews", namespaced: false, verbs: ["create"] },
  { group: "authorization.k8s.io", version: "v1", kind: "SubjectAccessReview", plural: "subjectaccessreviews", namespaced: false, verbs: ["create"] },
];

/** Kinds that are answered but never stored (reviews). */
export const VIRTUAL_KINDS = new Set(["SelfSubjectAccessReview", "SubjectAccessReview"]);

function builtin(spec: BuiltinSpec): ResourceType {
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
  };
}

/** Where objects of a resource are kept: one bucket per group and plural, whatever version is served. */
export function storageKey(rt: Pick<ResourceType, "group" | "plural">): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

export class ResourceRegistry {
  private readonly builtins: ResourceType[] = BUILTINS.map(builtin);
  private custom: ResourceType[] = [];

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
