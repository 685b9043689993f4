import type { KindSpec } from "../registry/resources.js";
import type { KubeObject } from "../types.js";
import { dns1123Subdomain } from "../validation.js";
import { child, decodingPodSpecAt, defaultPodSpec, podSpecErrors, podSpecRules } from "./pod-spec.js";

/**
 * Pods (pkg/registry/core/pod/strategy.go): created Pending with their spec defaulted, validated as kube-apiserver
 * validates a PodSpec, and deleted gracefully: a pod a node runs stays, marked, until its kubelet has stopped it.
 */

/**
 * kube-apiserver's pod deletion grace (CheckGracefulDelete): the request's, else the pod's
 * terminationGracePeriodSeconds (30); none for a pod no node runs (unscheduled) or that has finished, which go at once.
 */
function gracePeriodSeconds(pod: KubeObject, requested: number | undefined): number {
  const spec = (pod as { spec?: { nodeName?: string; terminationGracePeriodSeconds?: number } }).spec ?? {};
  const phase = (pod as { status?: { phase?: string } }).status?.phase;
  if (!spec.nodeName || phase === "Succeeded" || phase === "Failed") return 0;
  return Math.max(0, requested ?? spec.terminationGracePeriodSeconds ?? 30);
}

export const pods: KindSpec = {
  group: "",
  version: "v1",
  kind: "Pod",
  plural: "pods",
  namespaced: true,
  shortNames: ["po"],
  categories: ["all"],
  status: true,
  listRules: { ...podSpecRules("spec"), "status.conditions": { type: "map", keys: ["type"] } },
  subresources: [{ name: "log", verbs: ["get"] }],
  strategy: {
    validateName: dns1123Subdomain,
    selectableFields: ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"],
    decode: decodingPodSpecAt(["spec"]),
    prepareForCreate(o) {
      defaultPodSpec(child(o, "spec"));
      o.status = { phase: "Pending", qosClass: "BestEffort" };
    },
    validate: (o) => podSpecErrors(o.spec, "spec"),
    gracePeriodSeconds,
  },
};
