import type { KindSpec } from "../registry/resources.js";
import type { ListMergeRule } from "../types.js";
import { plainStrategy } from "../registry/strategy.js";

/** The kinds the store keeps with (almost) nothing of their own. */

const conditionsByType: ListMergeRule = { type: "map", keys: ["type"] };

export const nodes: KindSpec = {
  group: "",
  version: "v1",
  kind: "Node",
  plural: "nodes",
  namespaced: false,
  shortNames: ["no"],
  status: true,
  listRules: { "status.addresses": { type: "map", keys: ["type"] }, "status.conditions": conditionsByType },
  strategy: plainStrategy({ selectableFields: ["spec.unschedulable"] }),
};

export const secrets: KindSpec = {
  group: "",
  version: "v1",
  kind: "Secret",
  plural: "secrets",
  namespaced: true,
  strategy: plainStrategy({
    selectableFields: ["type"],
    prepareForCreate: (o) => {
      o.type ??= "Opaque";
    },
  }),
};

export const configMaps: KindSpec = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true, shortNames: ["cm"], strategy: plainStrategy() };

export const events: KindSpec = {
  group: "",
  version: "v1",
  kind: "Event",
  plural: "events",
  namespaced: true,
  shortNames: ["ev"],
  strategy: plainStrategy({
    selectableFields: [
      "involvedObject.kind",
      "involvedObject.namespace",
      "involvedObject.name",
      "involvedObject.uid",
      "involvedObject.apiVersion",
      "involvedObject.resourceVersion",
      "involvedObject.fieldPath",
      "reason",
      "reportingComponent",
      "source",
      "type",
    ],
  }),
};

export const endpoints: KindSpec = { group: "", version: "v1", kind: "Endpoints", plural: "endpoints", namespaced: true, shortNames: ["ep"], strategy: plainStrategy() };

export const leases: KindSpec = { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true, strategy: plainStrategy() };

/** Stored and served, not enforced (the sandbox's pod network is loopback): doctor reads them as on AKS. */
export const networkPolicies: KindSpec = {
  group: "networking.k8s.io",
  version: "v1",
  kind: "NetworkPolicy",
  plural: "networkpolicies",
  namespaced: true,
  shortNames: ["netpol"],
  strategy: plainStrategy(),
};
