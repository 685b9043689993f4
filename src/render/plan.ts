import type { StepReport } from "../core/steps.js";
import { toYamlStream } from "./templates.js";

/**
 * A dry-run plan as a manifest stream for GitOps: the cluster objects exactly as they would be applied, with the
 * Azure changes (which no manifest can carry) listed first as comments.
 */
export function planAsYaml(steps: StepReport[]): string {
  const comments = steps
    .filter((s) => s.target === "azure")
    .map((s) => `# azure: ${s.action ?? s.outcome} ${s.step}`);
  const objects = steps.filter((s) => s.target === "cluster" && s.detail?.object).map((s) => s.detail!.object);
  return [...comments, toYamlStream(objects)].join("\n");
}
