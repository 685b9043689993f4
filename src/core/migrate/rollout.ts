import { setTimeout as sleep } from "node:timers/promises";
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import { podState } from "../../kube/pods.js";
import type { KubeSession } from "../../kube/session.js";
import { ownerIndex, podsOf, readWorkload, rolloutState, type Workload, type WorkloadKind } from "../../kube/workloads.js";

const POLL_MS = 1000;

type KubeEvent = KubernetesObject & { type?: string; reason?: string; message?: string; lastTimestamp?: string | Date; eventTime?: string | Date; involvedObject?: { kind?: string; name?: string } };

/** The workload's pods, with the ReplicaSets and Jobs that link them to it. */
export async function workloadPods(kube: KubeSession, w: Workload): Promise<V1Pod[]> {
  const ns = w.metadata.namespace;
  const [pods, replicaSets, jobs] = await Promise.all([
    kube.list<V1Pod>("v1", "Pod", ns),
    w.kind === "Deployment" ? kube.list<Workload>("apps/v1", "ReplicaSet", ns) : Promise.resolve([]),
    w.kind === "CronJob" ? kube.list<Workload>("batch/v1", "Job", ns) : Promise.resolve([]),
  ]);
  return podsOf(w, pods, ownerIndex(replicaSets, jobs));
}

/**
 * Why a rollout has not completed, in the cluster's words: the workload's Warning Events since it began (a pod the
 * API server refused, FailedCreate) and the state of its pods that are not ready (CrashLoopBackOff, Pending ...).
 */
export async function explainRollout(kube: KubeSession, w: Workload, since: Date): Promise<string> {
  const ns = w.metadata.namespace;
  const [pods, events] = await Promise.all([workloadPods(kube, w).catch(() => []), kube.list<KubeEvent>("v1", "Event", ns).catch(() => [])]);
  const names = new Set([w.metadata.name, ...pods.map((p) => p.metadata?.name)]);
  const ours = (e: KubeEvent) => e.involvedObject?.name !== undefined && (names.has(e.involvedObject.name) || e.involvedObject.name.startsWith(`${w.metadata.name}-`));
  const at = (e: KubeEvent) => new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).getTime();
  const warnings = events
    .filter((e) => e.type === "Warning" && ours(e) && at(e) >= since.getTime() - 1000)
    .sort((a, b) => at(b) - at(a))
    .slice(0, 2)
    .map((e) => `${e.involvedObject?.kind} ${e.involvedObject?.name}: ${e.reason}: ${e.message}`);
  const unready = pods
    .filter((p) => !p.metadata?.deletionTimestamp && !(p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"))
    .slice(0, 2)
    .map((p) => `pod ${p.metadata?.name}: ${podState(p)}`);
  return [...warnings, ...unready].join("; ") || "no Warning Events and no unready pods (the controller has not caught up)";
}

/** Polls until every pod of the workload runs its current template, bounded; says why when it does not. */
export async function waitForRollout(
  kube: KubeSession,
  ref: { kind: WorkloadKind; namespace: string; name: string },
  options: { timeoutMs: number; since: Date; progress: (m: string) => void },
): Promise<{ complete: true; workload: Workload } | { complete: false; workload?: Workload; reason: string }> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "";
  for (;;) {
    const w = await readWorkload(kube, ref.kind, ref.namespace, ref.name);
    if (!w) return { complete: false, reason: `${ref.kind} ${ref.namespace}/${ref.name} no longer exists` };
    const state = rolloutState(w);
    if (state.complete) return { complete: true, workload: w };
    if (state.summary !== last) options.progress(`${ref.kind.toLowerCase()}/${ref.name}: ${state.summary}`);
    last = state.summary;
    if (Date.now() > deadline) {
      return { complete: false, workload: w, reason: `its rollout did not complete within ${Math.round(options.timeoutMs / 1000)}s (${state.summary}): ${await explainRollout(kube, w, options.since)}` };
    }
    await sleep(POLL_MS);
  }
}
