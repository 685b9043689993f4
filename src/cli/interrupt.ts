import { InterruptedError } from "../errors/index.js";
import type { ProgressDisplay } from "./progress.js";

const CHANGES = new Set(["created", "updated", "deleted"]);

/** What Ctrl-C reports: where the command was, and what it had already changed (a re-run finishes the job). */
export function interruption(progress: ProgressDisplay): InterruptedError {
  const done = progress.finished.filter((s) => CHANGES.has(s.outcome)).map((s) => `${s.step} (${s.outcome})`);
  return new InterruptedError(progress.current ? `cancelled during ${progress.current}` : "cancelled", {
    remedy: done.length ? `Already done: ${done.join("; ")}. Re-running the same command finishes the job.` : undefined,
    details: { completed: done },
  });
}
