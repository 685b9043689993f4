import type { Pod, ReplicaSet } from "./objects.js";
import { createPod, deletePod, isActive, isPodReady, ownedPods, writeStatus, type ControllerContext } from "./pods.js";

/** The ReplicaSet controller: spec.replicas active pods from the template; the surplus deleted in the controller's order. */

export function reconcileReplicaSet(ctx: ControllerContext, rs: ReplicaSet): void {
  const pods = ownedPods(ctx, rs).filter(isActive);
  const desired = rs.spec.replicas ?? 1;
  for (let i = pods.length; i < desired; i++) createPod(ctx, rs, rs.spec.template);
  if (pods.length > desired) {
    // Unscheduled, then not ready, then the youngest go first, as the ReplicaSet controller ranks them.
    const rank = (p: Pod) => (p.spec?.nodeName ? 0 : 2) + (isPodReady(p) ? 0 : 1);
    const victims = [...pods].sort((a, b) => rank(b) - rank(a) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)));
    for (const p of victims.slice(0, pods.length - desired)) deletePod(ctx, rs, p);
  }
}

export function replicaSetStatus(ctx: ControllerContext, rs: ReplicaSet): void {
  const pods = ownedPods(ctx, rs).filter(isActive);
  const ready = pods.filter(isPodReady).length;
  const selector = rs.spec.template.metadata?.labels ?? {};
  writeStatus(ctx, rs, {
    replicas: pods.length,
    fullyLabeledReplicas: pods.filter((p) => Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
    readyReplicas: ready,
    availableReplicas: ready,
    observedGeneration: rs.metadata.generation,
  });
}
