import { KINDS, type Deployment, type ReplicaSet } from "./objects.js";
import { conditions, isActive, isPodReady, MANAGER, owned, ownedPods, ownerRef, templateHash, writeStatus, type ControllerContext } from "./pods.js";

/**
 * The Deployment controller: one ReplicaSet per pod template (named and labelled by the template's hash), the
 * current one scaled to spec.replicas and the others to 0; the Deployment's status from its ReplicaSets' pods.
 */

function replicaSetsOf(ctx: ControllerContext, d: Deployment): ReplicaSet[] {
  return owned<ReplicaSet>(ctx, KINDS.replicaSet, d);
}

export function reconcileDeployment(ctx: ControllerContext, d: Deployment): void {
  const template = d.spec.template;
  const hash = templateHash(template);
  const replicas = d.spec.replicas ?? 1;
  const sets = replicaSetsOf(ctx, d);
  const current = sets.find((rs) => rs.metadata.labels?.["pod-template-hash"] === hash);
  const revisions = sets.map((rs) => Number(rs.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? 0));
  if (!current) {
    const labels = { ...(template.metadata?.labels ?? {}), "pod-template-hash": hash };
    const name = `${d.metadata.name}-${hash}`;
    ctx.store.create<ReplicaSet>(
      {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name,
          namespace: d.metadata.namespace,
          labels,
          annotations: { "deployment.kubernetes.io/revision": String(Math.max(0, ...revisions) + 1), "deployment.kubernetes.io/desired-replicas": String(replicas) },
          ownerReferences: [ownerRef(d)],
        },
        spec: {
          replicas,
          selector: { ...d.spec.selector, matchLabels: { ...(d.spec.selector?.matchLabels ?? {}), "pod-template-hash": hash } },
          template: { ...template, metadata: { ...(template.metadata ?? {}), labels } },
        },
      },
      { fieldManager: MANAGER },
    );
    ctx.event(d, "Normal", "ScalingReplicaSet", `Scaled up replica set ${name} to ${replicas}`);
  } else if (current.spec.replicas !== replicas) {
    ctx.store.update({ ...current, spec: { ...current.spec, replicas } }, { fieldManager: MANAGER });
  }
  for (const old of sets) {
    if (old !== current && old.spec.replicas !== 0) {
      ctx.store.update({ ...old, spec: { ...old.spec, replicas: 0 } }, { fieldManager: MANAGER });
      ctx.event(d, "Normal", "ScalingReplicaSet", `Scaled down replica set ${old.metadata.name} to 0`);
    }
  }
}

export function deploymentStatus(ctx: ControllerContext, d: Deployment): void {
  const hash = templateHash(d.spec.template);
  const desired = d.spec.replicas ?? 1;
  const pods = replicaSetsOf(ctx, d).flatMap((rs) => ownedPods(ctx, rs).filter(isActive).map((p) => ({ p, current: rs.metadata.labels?.["pod-template-hash"] === hash })));
  const ready = pods.filter(({ p }) => isPodReady(p)).length;
  const updated = pods.filter(({ current }) => current).length;
  const available = ready;
  const currentName = `${d.metadata.name}-${hash}`;
  const complete = updated === desired && pods.length === desired && available === desired;
  writeStatus(ctx, d, {
    observedGeneration: d.metadata.generation,
    replicas: pods.length,
    updatedReplicas: updated,
    readyReplicas: ready,
    availableReplicas: available,
    ...(desired - available > 0 ? { unavailableReplicas: desired - available } : {}),
    conditions: conditions(d.status?.conditions, [
      available >= desired
        ? { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability." }
        : { type: "Available", status: "False", reason: "MinimumReplicasUnavailable", message: "Deployment does not have minimum availability." },
      complete
        ? { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable", message: `ReplicaSet "${currentName}" has successfully progressed.` }
        : { type: "Progressing", status: "True", reason: "ReplicaSetUpdated", message: `ReplicaSet "${currentName}" is progressing.` },
    ]),
  });
}
