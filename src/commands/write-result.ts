import { present, type Presented } from "../cli/presented.js";
import type { StepReport } from "../core/steps.js";
import { planAsYaml } from "../render/plan.js";

/** A write command's steps as a table: what happened (or, in a dry run, would), where, to what. */
export function stepRows(steps: StepReport[]): Record<string, string>[] {
  return steps.map((s) => ({ ...(s.outcome ? { outcome: s.outcome } : { action: s.action ?? "" }), target: s.target, step: s.step }));
}

/**
 * A write command's result: `-o table` shows its steps; `--dry-run -o yaml` the manifests as they would be applied
 * (when the plan applies any: a plan that only deletes prints as itself).
 */
export function writeResult<R extends { steps: StepReport[]; dryRun: boolean }>(result: R): Presented<R> {
  const manifests = result.dryRun && result.steps.some((s) => s.detail?.object);
  return present(result, { table: (r) => stepRows(r.steps), ...(manifests ? { yaml: (r: R) => planAsYaml(r.steps) } : {}) });
}
