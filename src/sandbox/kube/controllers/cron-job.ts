import { CronError, parseCronSchedule } from "../cron.js";
import { KubeError } from "../errors.js";
import { kubeTime } from "../types.js";
import { KINDS, type CronJob, type Job, type ObjectReference } from "./objects.js";
import { MANAGER, owned, ownerRef, writeStatus, type ControllerContext } from "./pods.js";

/**
 * The CronJob controller: a Job per schedule tick of the sandbox clock (the most recent one missed, when several
 * were; none while suspended, none past startingDeadlineSeconds), named `<cronjob>-<minutes since epoch>`, with
 * concurrencyPolicy Allow, Forbid (skip while one runs) or Replace (delete the running ones first); finished Jobs
 * beyond the history limits are deleted, oldest first.
 */

const SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/** As the controller: beyond this many missed ticks it warns that the clock or the deadline needs a look. */
const TOO_MANY_MISSED = 100;

function jobState(job: Job): "Complete" | "Failed" | undefined {
  const c = (job.status?.conditions ?? []).find((x) => (x.type === "Complete" || x.type === "Failed") && x.status === "True");
  return c?.type as "Complete" | "Failed" | undefined;
}

/** A Job as status.active lists it: the reference made when it started, kept as it was. */
function reference(cj: CronJob, job: Job): ObjectReference {
  const listed = cj.status?.active?.find((r) => r.uid === job.metadata.uid);
  return listed ?? { apiVersion: "batch/v1", kind: "Job", name: job.metadata.name ?? "", namespace: job.metadata.namespace, uid: job.metadata.uid ?? "", resourceVersion: job.metadata.resourceVersion };
}

function deleteJob(ctx: ControllerContext, cj: CronJob, job: Job): void {
  try {
    ctx.store.delete({ ...KINDS.job, namespace: job.metadata.namespace, name: job.metadata.name ?? "" }, { propagationPolicy: "Background" });
    ctx.event(cj, "Normal", "SuccessfulDelete", `Deleted job ${job.metadata.name}`);
  } catch (err) {
    if (!(err instanceof KubeError) || err.code !== 404) throw err;
  }
}

/** Deletes the oldest finished Jobs of one outcome beyond the limit. */
function trimHistory(ctx: ControllerContext, cj: CronJob, jobs: Job[], state: "Complete" | "Failed", limit: number): void {
  const done = jobs.filter((j) => jobState(j) === state).sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
  for (const job of done.slice(0, Math.max(0, done.length - limit))) deleteJob(ctx, cj, job);
}

/** The most recent tick at or before `now` after `earliest` (epoch ms), and how many ticks that was. */
function lastTick(cj: CronJob, earliest: number, now: number): { time?: number; missed: number } {
  const schedule = parseCronSchedule(cj.spec.schedule, cj.spec.timeZone);
  let time: number | undefined;
  let missed = 0;
  for (let t = schedule.next(earliest); t !== undefined && t <= now; t = schedule.next(t)) {
    time = t;
    missed++;
  }
  return { time, missed };
}

export class CronJobController {
  /** Events already given, by CronJob uid, tick and reason: the controller looks every few seconds, a tick tells once. */
  private readonly told = new Set<string>();

  constructor(private readonly ctx: ControllerContext) {}

  reconcile(cj: CronJob): void {
    const jobs = owned<Job>(this.ctx, KINDS.job, cj);
    const running = jobs.filter((j) => !jobState(j) && !j.metadata.deletionTimestamp);
    const successes = jobs.flatMap((j) => (jobState(j) === "Complete" && j.status?.completionTime ? [j.status.completionTime] : [])).sort();
    const lastSuccessfulTime = successes[successes.length - 1] ?? cj.status?.lastSuccessfulTime;
    const status: Record<string, unknown> = {
      ...(running.length ? { active: running.map((j) => reference(cj, j)) } : {}),
      ...(cj.status?.lastScheduleTime ? { lastScheduleTime: cj.status.lastScheduleTime } : {}),
      ...(lastSuccessfulTime ? { lastSuccessfulTime } : {}),
    };
    trimHistory(this.ctx, cj, jobs, "Complete", cj.spec.successfulJobsHistoryLimit ?? 3);
    trimHistory(this.ctx, cj, jobs, "Failed", cj.spec.failedJobsHistoryLimit ?? 1);
    const tick = cj.spec.suspend ? undefined : this.due(cj);
    if (tick !== undefined) this.start(cj, tick, running, status);
    writeStatus(this.ctx, cj, status);
  }

  /** An event once per CronJob, tick and reason. */
  private tell(cj: CronJob, tick: number, type: "Normal" | "Warning", reason: string, message: string): void {
    const key = `${cj.metadata.uid}/${tick}/${reason}`;
    if (this.told.has(key)) return;
    this.told.add(key);
    this.ctx.event(cj, type, reason, message);
  }

  /**
   * The tick to run now, if any: the latest since the last one (or the CronJob's creation). The schedule runs on the
   * sandbox clock while creation times are the API server's, so a CronJob made after the clock was moved starts at
   * once with the latest tick it missed, as a controller whose clock runs ahead of the API server's would.
   */
  private due(cj: CronJob): number | undefined {
    const now = this.ctx.now();
    const earliest = Date.parse(cj.status?.lastScheduleTime ?? cj.metadata.creationTimestamp ?? "");
    let tick: { time?: number; missed: number };
    try {
      tick = lastTick(cj, earliest, now);
    } catch (err) {
      if (!(err instanceof CronError)) throw err;
      this.tell(cj, 0, "Warning", "UnparseableSchedule", `unparseable schedule: ${JSON.stringify(cj.spec.schedule)} : ${err.message}`);
      return undefined;
    }
    if (tick.time === undefined) return undefined;
    if (tick.missed > TOO_MANY_MISSED) this.tell(cj, tick.time, "Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew");
    const deadline = cj.spec.startingDeadlineSeconds;
    if (deadline !== undefined && now - tick.time > deadline * 1000) return undefined;
    return tick.time;
  }

  private start(cj: CronJob, tick: number, running: Job[], status: Record<string, unknown>): void {
    const policy = cj.spec.concurrencyPolicy ?? "Allow";
    if (policy === "Forbid" && running.length) {
      this.tell(cj, tick, "Normal", "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid");
      return;
    }
    if (policy === "Replace") for (const job of running) deleteJob(this.ctx, cj, job);
    const job = this.createJob(cj, tick);
    if (job === "failed") return;
    status.lastScheduleTime = kubeTime(tick);
    if (job === "exists") return;
    status.active = [...(policy === "Replace" ? [] : running).map((j) => reference(cj, j)), reference(cj, job)];
  }

  /** The tick's Job; "exists" when an earlier pass made it but its status write did not land. */
  private createJob(cj: CronJob, tick: number): Job | "exists" | "failed" {
    const template = cj.spec.jobTemplate;
    const name = `${cj.metadata.name}-${Math.floor(tick / 60_000)}`;
    try {
      const job = this.ctx.store.create<Job>(
        {
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: {
            name,
            namespace: cj.metadata.namespace,
            ...(template.metadata?.labels ? { labels: template.metadata.labels } : {}),
            annotations: { ...(template.metadata?.annotations ?? {}), [SCHEDULED_ANNOTATION]: kubeTime(tick) },
            ownerReferences: [ownerRef(cj)],
          },
          spec: template.spec,
        },
        { fieldManager: MANAGER },
      );
      this.ctx.event(cj, "Normal", "SuccessfulCreate", `Created job ${name}`);
      return job;
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      if (err.code === 409) return "exists";
      this.tell(cj, tick, "Warning", "FailedCreate", `Error creating job: ${err.message}`);
      return "failed";
    }
  }
}
