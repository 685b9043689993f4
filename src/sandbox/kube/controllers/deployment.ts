import { KINDS, type Deployment, type ReplicaSet } from "./objects.js";
import { conditions, isActive, isPodReady, MANAGER, owned, ownedPods, ownerRef, templateHash, writeStatus, type ControllerContext } from "./pods.js";

/**
 * The Deployment controller: one ReplicaSet per pod template (named and labelled by the template's hash).
 * RollingUpdate (the default) scales the current one up by at most maxSurge pods above spec.replicas and the old ones
 * down only while maxUnavailable allows, counting ready pods, as kube-controller-manager does (so a new template
 * whose pods never become ready leaves the old pods serving); Recreate scales the old ones to 0 and starts the new
 * pods once the old ones are gone. The Deployment's status comes from its ReplicaSets' pods.
 */

function replicaSetsOf(ctx: ControllerContext, d: Deployment): ReplicaSet[] {
  return owned<ReplicaSet>(ctx, KINDS.replicaSet, d);
}

/** maxSurge and maxUnavailable as pod counts: percentages of spec.replicas (surge rounded up, unavailable down; 25% each by default). */
function rollingBounds(rolling: { maxSurge?: number | string; maxUnavailable?: number | string } | undefined, replicas: number): { surge: number; unavailable: number } {
  const resolve = (value: number | string | undefined, roundUp: boolean) => {
    const v = value ?? "25%";
    if (typeof v === "number") return v;
    const pct = /^(\d+)%$/.exec(v);
    if (!pct) return Number(v) || 0;
    const exact = (replicas * Number(pct[1])) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  };
  const surge = resolve(rolling?.maxSurge, true);
  const unavailable = resolve(rolling?.maxUnavailable, false);
  // Both 0 would never make progress: kube refuses it at validation, the controller treats it as 1 unavailable.
  return { surge, unavailable: surge === 0 && unavailable === 0 ? 1 : unavailable };
}

function createReplicaSet(ctx: ControllerContext, d: Deployment, hash: string, replicas: number, revision: number): ReplicaSet {
  const template = d.spec.template;
  const labels = { ...(template.metadata?.labels ?? {}), "pod-template-hash": hash };
  const name = `${d.metadata.name}-${hash}`;
  const rs = ctx.store.create<ReplicaSet>(
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name,
        namespace: d.metadata.namespace,
        labels,
        annotations: { "deployment.kubernetes.io/revision": String(revision), "deployment.kubernetes.io/desired-replicas": String(d.spec.replicas ?? 1) },
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
  return rs;
}

export function reconcileDeployment(ctx: ControllerContext, d: Deployment): void {
  const hash = templateHash(d.spec.template);
  const replicas = d.spec.replicas ?? 1;
  const sets = replicaSetsOf(ctx, d);
  let current = sets.find((rs) => rs.metadata.labels?.["pod-template-hash"] === hash);
  const old = sets.filter((rs) => rs !== current).sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
  const specOf = (rs: ReplicaSet | undefined) => rs?.spec.replicas ?? 0;
  const readyOf = (rs: ReplicaSet | undefined) => (rs ? ownedPods(ctx, rs).filter((p) => isActive(p) && isPodReady(p)).length : 0);
  const scale = (rs: ReplicaSet, to: number) => {
    if (specOf(rs) === to) return;
    const down = to < specOf(rs);
    ctx.store.update({ ...rs, spec: { ...rs.spec, replicas: to } }, { fieldManager: MANAGER });
    rs.spec = { ...rs.spec, replicas: to };
    ctx.event(d, "Normal", "ScalingReplicaSet", `Scaled ${down ? "down" : "up"} replica set ${rs.metadata.name} to ${to}`);
  };
  const setCurrent = (to: number) => {
    if (current) scale(current, to);
    else current = createReplicaSet(ctx, d, hash, to, Math.max(0, ...sets.map((rs) => Number(rs.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? 0))) + 1);
  };
  if (d.spec.strategy?.type === "Recreate") {
    for (const rs of old) scale(rs, 0);
    setCurrent(old.some((rs) => ownedPods(ctx, rs).length > 0) ? 0 : replicas);
    return;
  }
  const { surge, unavailable } = rollingBounds(d.spec.strategy?.rollingUpdate, replicas);
  const total = sets.reduce((sum, rs) => sum + specOf(rs), 0);
  const now = specOf(current);
  setCurrent(now >= replicas ? replicas : now + Math.max(0, Math.min(replicas + surge - total, replicas - now)));
  const minAvailable = replicas - unavailable;
  let budget = old.reduce((sum, rs) => sum + specOf(rs), specOf(current)) - minAvailable - (specOf(current) - readyOf(current));
  // Old pods that are not ready go first: they serve nothing.
  for (const rs of old) {
    const unhealthy = Math.min(budget, specOf(rs) - readyOf(rs));
    if (unhealthy <= 0) continue;
    scale(rs, specOf(rs) - unhealthy);
    budget -= unhealthy;
  }
  let down = [current!, ...old].reduce((sum, rs) => sum + Math.min(specOf(rs), readyOf(rs)), 0) - minAvailable;
  for (const rs of old) {
    const n = Math.min(specOf(rs), down);
    if (n <= 0) continue;
    scale(rs, specOf(rs) - n);
    down -= n;
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
