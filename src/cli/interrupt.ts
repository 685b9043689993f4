import { ExitCode, InterruptedError } from "../errors/index.js";
import type { ProgressDisplay } from "./progress.js";

const CHANGES = new Set(["created", "updated", "deleted"]);

/** The signals that stop a command quietly, with the exit code a shell reports for each (128 + its number). */
export const STOP_SIGNALS = { SIGINT: ExitCode.interrupted, SIGTERM: ExitCode.terminated } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

/** What Ctrl-C (or SIGTERM) reports: where the command was, and what it had already changed (a re-run finishes the job). */
export function interruption(progress: ProgressDisplay, signal: StopSignal = "SIGINT"): InterruptedError {
  const done = progress.finished.filter((s) => CHANGES.has(s.outcome)).map((s) => `${s.step} (${s.outcome})`);
  return new InterruptedError(progress.current ? `cancelled during ${progress.current}` : "cancelled", {
    exitCode: STOP_SIGNALS[signal],
    remedy: done.length ? `Already done: ${done.join("; ")}. Re-running the same command finishes the job.` : undefined,
    details: { completed: done },
  });
}
