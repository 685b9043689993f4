import { matchesLabelSelector } from "../selectors.js";
import { kubeTime } from "../types.js";
import { KINDS, type Node, type Pod, type PodSpec } from "./objects.js";
import { isActive, type ControllerContext } from "./pods.js";

/**
 * The scheduler: a pod without a node goes to an eligible one (node selector, taints and tolerations), spreading
 * by preferred pod anti-affinity, then by pod count; a pod no node can take is marked Unschedulable.
 */

const SCHEDULER = "default-scheduler";

/** Whether a pod with this spec may run on the node (its node selector and NoSchedule/NoExecute taints). */
export function eligible(node: Node, spec: PodSpec): boolean {
  const selector = spec.nodeSelector ?? {};
  if (!Object.entries(selector).every(([k, v]) => node.metadata.labels?.[k] === v)) return false;
  const tolerations = spec.tolerations ?? [];
  return (node.spec?.taints ?? [])
    .filter((t) => t.effect === "NoSchedule" || t.effect === "NoExecute")
    .every((t) => tolerations.some((tol) => (tol.operator === "Exists" && (!tol.key || tol.key === t.key)) || (tol.key === t.key && (tol.value ?? "") === (t.value ?? ""))));
}

export function schedule(ctx: ControllerContext): void {
  const pods = ctx.store.list<Pod>(KINDS.pod).items;
  const nodes = ctx.nodes().filter((n) => !n.spec?.unschedulable);
  for (const pod of pods) {
    if (pod.spec?.nodeName || !isActive(pod) || (pod.spec?.schedulerName && pod.spec.schedulerName !== SCHEDULER)) continue;
    const candidates = nodes.filter((n) => eligible(n, pod.spec ?? {}));
    if (!candidates.length) {
      if (!pod.status?.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable")) {
        const message = `0/${nodes.length} nodes are available: ${nodes.length} node(s) didn't match Pod's node affinity/selector.`;
        ctx.store.updateStatus({ ...pod, status: { ...(pod.status ?? {}), phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message, lastProbeTime: null, lastTransitionTime: kubeTime() }] } }, { fieldManager: SCHEDULER });
        ctx.event(pod, "Warning", "FailedScheduling", message);
      }
      continue;
    }
    const terms = pod.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    const score = (n: Node) => {
      const here = pods.filter((p) => p.spec?.nodeName === n.metadata.name && isActive(p) && p.metadata.namespace === pod.metadata.namespace);
      const penalty = terms.reduce((sum, t) => sum + (here.some((p) => t.podAffinityTerm.labelSelector && matchesLabelSelector(t.podAffinityTerm.labelSelector, p.metadata.labels ?? {})) ? t.weight : 0), 0);
      return penalty * 1000 + pods.filter((p) => p.spec?.nodeName === n.metadata.name && isActive(p)).length;
    };
    const node = [...candidates].sort((a, b) => score(a) - score(b))[0];
    ctx.store.update({ ...pod, spec: { ...pod.spec, nodeName: node.metadata.name } }, { fieldManager: SCHEDULER });
    pod.spec = { ...pod.spec, nodeName: node.metadata.name };
    ctx.event(pod, "Normal", "Scheduled", `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node.metadata.name}`);
  }
}
