import type { Pod, StatefulSet } from "./objects.js";
import { createPod, deletePod, isFinished, isPodReady, ownedPods, templateHash, writeStatus, type ControllerContext } from "./pods.js";

/**
 * The StatefulSet controller: pods `<name>-0` .. `<name>-(N-1)`, each keeping its name (and hostname) when it is
 * replaced. With OrderedReady (the default) one at a time, in order: a pod is made once every lower one is Running
 * and Ready, and scale-down takes the highest ordinal first, one at a time; Parallel makes and removes them all at
 * once. A changed template rolls out from the highest ordinal down to the partition, one pod at a time.
 */

export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
export const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";
export const REVISION_LABEL = "controller-revision-hash";

/** The revision of the current template, as its ControllerRevision would be named. */
function updateRevision(sts: StatefulSet): string {
  return `${sts.metadata.name}-${templateHash(sts.spec.template)}`;
}

/** The set's pods by ordinal; pods whose names are not `<name>-<n>` are left alone. */
function podsByOrdinal(ctx: ControllerContext, sts: StatefulSet): Map<number, Pod> {
  const out = new Map<number, Pod>();
  const prefix = `${sts.metadata.name}-`;
  for (const pod of ownedPods(ctx, sts)) {
    const name = pod.metadata.name ?? "";
    const ordinal = name.startsWith(prefix) ? name.slice(prefix.length) : "";
    if (/^(0|[1-9]\d*)$/.test(ordinal)) out.set(Number(ordinal), pod);
  }
  return out;
}

function runningAndReady(pod: Pod): boolean {
  return pod.status?.phase === "Running" && isPodReady(pod);
}

function newPod(ctx: ControllerContext, sts: StatefulSet, ordinal: number): void {
  const name = `${sts.metadata.name}-${ordinal}`;
  createPod(ctx, sts, sts.spec.template, {
    name,
    labels: { [POD_NAME_LABEL]: name, [REVISION_LABEL]: updateRevision(sts), [POD_INDEX_LABEL]: String(ordinal) },
    spec: { hostname: name, ...(sts.spec.serviceName ? { subdomain: sts.spec.serviceName } : {}) },
    created: (pod) => `create Pod ${pod} in StatefulSet ${sts.metadata.name} successful`,
  });
}

/** The StatefulSet controller's own wording of a deletion. */
function removePod(ctx: ControllerContext, sts: StatefulSet, pod: Pod): void {
  deletePod(ctx, sts, pod, `delete Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} successful`);
}

export function reconcileStatefulSet(ctx: ControllerContext, sts: StatefulSet): void {
  const replicas = sts.spec.replicas ?? 1;
  const ordered = (sts.spec.podManagementPolicy ?? "OrderedReady") === "OrderedReady";
  const pods = podsByOrdinal(ctx, sts);
  for (let i = 0; i < replicas; i++) {
    const pod = pods.get(i);
    if (!pod) {
      newPod(ctx, sts, i);
      if (ordered) return;
      continue;
    }
    // A pod that ended is replaced under the same name, once it is gone.
    if (isFinished(pod) && !pod.metadata.deletionTimestamp) removePod(ctx, sts, pod);
    if (ordered && (pod.metadata.deletionTimestamp || isFinished(pod) || !runningAndReady(pod))) return;
  }
  const condemned = [...pods.keys()].filter((i) => i >= replicas).sort((a, b) => b - a);
  for (const i of condemned) {
    const pod = pods.get(i)!;
    if (pod.metadata.deletionTimestamp) {
      if (ordered) return;
      continue;
    }
    removePod(ctx, sts, pod);
    if (ordered) return;
  }
  if ((sts.spec.updateStrategy?.type ?? "RollingUpdate") !== "RollingUpdate") return;
  const revision = updateRevision(sts);
  const partition = sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  for (let i = replicas - 1; i >= partition; i--) {
    const pod = pods.get(i);
    if (!pod || pod.metadata.deletionTimestamp) return;
    if (pod.metadata.labels?.[REVISION_LABEL] !== revision) {
      removePod(ctx, sts, pod);
      return;
    }
    if (!runningAndReady(pod)) return;
  }
}

export function statefulSetStatus(ctx: ControllerContext, sts: StatefulSet): void {
  const replicas = sts.spec.replicas ?? 1;
  const revision = updateRevision(sts);
  const pods = [...podsByOrdinal(ctx, sts).values()].filter((p) => !p.metadata.deletionTimestamp);
  const ready = pods.filter(isPodReady).length;
  const updated = pods.filter((p) => p.metadata.labels?.[REVISION_LABEL] === revision).length;
  const current = updated === replicas && ready === replicas ? revision : (sts.status?.currentRevision ?? revision);
  writeStatus(ctx, sts, {
    observedGeneration: sts.metadata.generation,
    replicas: pods.length,
    readyReplicas: ready,
    currentReplicas: pods.filter((p) => p.metadata.labels?.[REVISION_LABEL] === current).length,
    updatedReplicas: updated,
    availableReplicas: ready,
    currentRevision: current,
    updateRevision: revision,
    collisionCount: 0,
  });
}
