import type { FieldError } from "../errors.js";
import type { KindSpec } from "../registry/resources.js";
import type { Strategy } from "../registry/strategy.js";
import { isPlainObject, type KubeObject, type ListMergeRule } from "../types.js";
import { dns1123Subdomain } from "../validation.js";
import { child, decodingPodSpecAt, defaultPodTemplate, podSpecErrors, podSpecRules } from "./pod-spec.js";

/**
 * The apps/v1 workloads (pkg/registry/apps): Deployments, ReplicaSets, DaemonSets and StatefulSets, each a pod
 * template and a selector that must match it, defaulted as kube-apiserver defaults them.
 */

type Obj = Record<string, unknown>;

const conditionsByType: ListMergeRule = { type: "map", keys: ["type"] };

/** The selector a workload needs, and the template labels it must select (ValidatePodTemplateSpecForReplicaSet). */
export function selectorErrors(spec: Obj, templatePath: string): FieldError[] {
  const errs: FieldError[] = [];
  const selector = spec.selector;
  if (!isPlainObject(selector)) errs.push({ type: "FieldValueRequired", field: "spec.selector" });
  const template = isPlainObject(spec.template) ? spec.template : {};
  const tmeta = isPlainObject(template.metadata) ? template.metadata : {};
  const labels = isPlainObject(tmeta.labels) ? (tmeta.labels as Record<string, string>) : {};
  if (isPlainObject(selector) && isPlainObject(selector.matchLabels)) {
    const mismatch = Object.entries(selector.matchLabels).some(([k, v]) => labels[k] !== v);
    if (mismatch) errs.push({ type: "FieldValueInvalid", field: `${templatePath}.metadata.labels`, value: labels, detail: "`selector` does not match template `labels`" });
  }
  return errs;
}

function specOf(o: KubeObject): Obj {
  return isPlainObject(o.spec) ? o.spec : {};
}

function templateSpec(spec: Obj): unknown {
  return isPlainObject(spec.template) ? spec.template.spec : undefined;
}

/** A workload's strategy: its defaults, then selector and pod template validation. */
function workloadStrategy(defaults: (spec: Obj) => void, selectableFields: string[] = []): Strategy {
  return {
    validateName: dns1123Subdomain,
    selectableFields,
    decode: decodingPodSpecAt(["spec", "template", "spec"]),
    prepareForCreate(o) {
      const spec = child(o, "spec");
      defaults(spec);
      defaultPodTemplate(spec);
    },
    validate(o) {
      const spec = specOf(o);
      return [...selectorErrors(spec, "spec.template"), ...podSpecErrors(templateSpec(spec), "spec.template.spec")];
    },
  };
}

function appsKind(kind: string, plural: string, shortNames: string[], scale: boolean, strategy: Strategy): KindSpec {
  return {
    group: "apps",
    version: "v1",
    kind,
    plural,
    namespaced: true,
    shortNames,
    categories: ["all"],
    status: true,
    scale,
    generation: true,
    listRules: { ...podSpecRules("spec.template.spec"), "status.conditions": conditionsByType },
    strategy,
  };
}

export const deployments = appsKind(
  "Deployment",
  "deployments",
  ["deploy"],
  true,
  workloadStrategy((spec) => {
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } };
  }),
);

export const daemonSets = appsKind(
  "DaemonSet",
  "daemonsets",
  ["ds"],
  false,
  workloadStrategy((spec) => {
    spec.revisionHistoryLimit ??= 10;
    spec.updateStrategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
  }),
);

export const replicaSets = appsKind(
  "ReplicaSet",
  "replicasets",
  ["rs"],
  true,
  workloadStrategy(
    (spec) => {
      spec.replicas ??= 1;
    },
    ["status.replicas"],
  ),
);

export const statefulSets = appsKind(
  "StatefulSet",
  "statefulsets",
  ["sts"],
  true,
  workloadStrategy((spec) => {
    spec.replicas ??= 1;
    spec.podManagementPolicy ??= "OrderedReady";
    spec.updateStrategy ??= { type: "RollingUpdate", rollingUpdate: { partition: 0 } };
    spec.revisionHistoryLimit ??= 10;
    spec.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: "Retain", whenScaled: "Retain" };
  }),
);
