import type { CommandContext } from "../cli/context.js";
import { PreformattedText } from "../cli/output.js";
import type { StepReport } from "../core/steps.js";
import { planAsYaml } from "../render/plan.js";

/** `--dry-run -o yaml` prints the manifests as they would be applied (what `podid render` prints); else the result. */
export function planOutput<R extends { steps: StepReport[] }>(result: R, ctx: CommandContext, dryRun: boolean | undefined): R | PreformattedText {
  return dryRun && ctx.globals.output === "yaml" ? new PreformattedText(planAsYaml(result.steps)) : result;
}
