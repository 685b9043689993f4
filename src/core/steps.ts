/**
 * Commands that change the world are ordered, named, idempotent steps. Each step can say, reading only, what
 * it would do (the dry-run plan) and can do it, reporting created / updated / unchanged / deleted. A failure
 * names the step, what was already done, and that a re-run finishes the job.
 */
import { PodidError, toPodidError } from "../errors/index.js";
import type { Progress } from "../util/progress.js";

export type Target = "azure" | "cluster";
export type Outcome = "created" | "updated" | "unchanged" | "deleted" | "absent";
export type PlannedAction = "create" | "update" | "delete" | "none";

export interface Step {
  /** Stable, human-readable name, e.g. "role assignment: Reader on /subscriptions/.../resourceGroups/x". */
  name: string;
  target: Target;
  /** How long apply may take at most (the bound of its waits), when it waits. */
  limitMs?: number;
  /** Read-only: what apply would do now. */
  plan(): Promise<{ action: PlannedAction; detail?: Record<string, unknown> }>;
  /** Brings the world to the step's desired state; doing it twice is a no-op the second time. */
  apply(progress: (message: string) => void): Promise<{ outcome: Outcome; detail?: Record<string, unknown> }>;
}

export interface StepReport {
  step: string;
  target: Target;
  outcome?: Outcome;
  action?: PlannedAction;
  detail?: Record<string, unknown>;
}

export interface RunOptions {
  dryRun: boolean;
  progress: Progress;
}

/** Runs (or, with dryRun, plans) the steps in order; stops at the first failure with what was done so far. */
export async function runSteps(steps: Step[], options: RunOptions): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const step of steps) {
    try {
      if (options.dryRun) {
        const { action, detail } = await step.plan();
        reports.push({ step: step.name, target: step.target, action, ...(detail ? { detail } : {}) });
      } else {
        options.progress.begin?.(step.name, step.limitMs);
        const { outcome, detail } = await step.apply(options.progress);
        options.progress.end?.(outcome);
        reports.push({ step: step.name, target: step.target, outcome, ...(detail ? { detail } : {}) });
      }
    } catch (err) {
      const e = toPodidError(err);
      const done = reports.filter((r) => r.outcome && r.outcome !== "unchanged").map((r) => `${r.step} (${r.outcome})`);
      throw new PodidError(e.code, `${step.name}: ${e.message}`, {
        cause: e.cause ?? e,
        exitCode: e.exitCode,
        details: { ...e.details, completed: done },
        remedy: [e.remedy, done.length ? `Already done: ${done.join("; ")}. Re-running the same command finishes the job.` : undefined]
          .filter(Boolean)
          .join("\n"),
      });
    }
  }
  return reports;
}
