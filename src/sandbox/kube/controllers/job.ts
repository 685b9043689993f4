import { kubeTime } from "../types.js";
import type { Condition, Job, Pod } from "./objects.js";
import { conditions, createPod, deletePod, isActive, isPodReady, ownedPods, writeStatus, type ControllerContext } from "./pods.js";

/**
 * The Job controller: pods from the template, `parallelism` at a time, until `completions` of them have succeeded
 * (or, without completions, until one has and none is running); more than `backoffLimit` failed pods, or a run
 * longer than activeDeadlineSeconds, fail the Job. A finished Job keeps its pods and is not touched again.
 */

function finished(job: Job): boolean {
  return (job.status?.conditions ?? []).some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
}

function terminal(type: "Complete" | "Failed", reason: string, message: string): Condition[] {
  const target = type === "Complete" ? "SuccessCriteriaMet" : "FailureTarget";
  return [
    { type: target, status: "True", reason, message },
    { type, status: "True", reason, message },
  ];
}

/** Why the Job has failed, if it has. */
function failure(job: Job, failed: number): Condition[] | undefined {
  if (failed > (job.spec.backoffLimit ?? 6)) return terminal("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit");
  const deadline = job.spec.activeDeadlineSeconds;
  const started = job.status?.startTime ? Date.parse(job.status.startTime) : undefined;
  if (deadline !== undefined && started !== undefined && Date.now() - started > deadline * 1000) return terminal("Failed", "DeadlineExceeded", "Job was active longer than specified deadline");
  return undefined;
}

export function reconcileJob(ctx: ControllerContext, job: Job): void {
  if (finished(job)) return;
  const pods = ownedPods(ctx, job);
  const count = (phase: string) => pods.filter((p) => p.status?.phase === phase).length;
  const succeeded = count("Succeeded");
  const failed = count("Failed");
  let active: Pod[] = pods.filter(isActive);
  const completions = job.spec.completions;
  const parallelism = job.spec.parallelism ?? 1;
  let ended: Condition[] | undefined = failure(job, failed);
  const complete = completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0;
  if (!ended && complete) ended = terminal("Complete", "CompletionsReached", "Reached expected number of succeeded pods");
  let wanted = 0;
  if (!ended && !job.spec.suspend) wanted = completions !== undefined ? Math.min(parallelism, completions - succeeded) : succeeded > 0 ? 0 : parallelism;
  if (active.length > wanted) {
    // The newest go first.
    const surplus = [...active].sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp))).slice(0, active.length - wanted);
    for (const p of surplus) deletePod(ctx, job, p);
    active = active.filter((p) => !surplus.includes(p));
  }
  for (let i = active.length; i < wanted; i++) {
    const pod = createPod(ctx, job, job.spec.template);
    if (pod) active.push(pod);
  }
  const now = kubeTime();
  const status: Record<string, unknown> = {
    ...(job.spec.suspend && !job.status?.startTime ? {} : { startTime: job.status?.startTime ?? now }),
    ...(active.length ? { active: active.length } : {}),
    ...(succeeded ? { succeeded } : {}),
    ...(failed ? { failed } : {}),
    ready: active.filter(isPodReady).length,
    terminating: pods.filter((p) => p.metadata.deletionTimestamp).length,
    uncountedTerminatedPods: {},
  };
  const next: Condition[] = ended ?? (job.spec.suspend ? [{ type: "Suspended", status: "True", reason: "JobSuspended", message: "Job suspended" }] : []);
  if (next.length) status.conditions = conditions(job.status?.conditions, next, false).map((c) => ({ ...c, lastProbeTime: c.lastTransitionTime }));
  if (ended?.[1].type === "Complete") status.completionTime = now;
  writeStatus(ctx, job, status);
  if (ended?.[1].type === "Complete") ctx.event(job, "Normal", "Completed", "Job completed");
  else if (ended) ctx.event(job, "Warning", ended[1].reason ?? "Failed", ended[1].message ?? "");
}
