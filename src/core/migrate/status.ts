import { loadPlan, type MigrateContext } from "./load.js";
import type { MigrationState } from "./model.js";

/** `podid migrate status`: one row per workload — where it stands, as the plan reads it. */
export interface StatusRow {
  namespace: string;
  workload: string;
  state: MigrationState;
  identities: string;
  serviceAccount: string;
  note: string;
}

export const STATE_WORDS: Record<MigrationState, string> = {
  "pod-identity": "pod identity only",
  both: "both paths",
  verified: "workload identity verified",
  finished: "finished",
};

export async function migrationStatus(ctx: MigrateContext): Promise<StatusRow[]> {
  const { plan } = await loadPlan(ctx);
  return plan.workloads.map((w) => ({
    namespace: w.namespace,
    workload: w.ref,
    state: w.state,
    identities: w.identities.join(", "),
    serviceAccount: w.serviceAccount ? (w.serviceAccount.current === w.serviceAccount.target ? w.serviceAccount.current : `${w.serviceAccount.current} -> ${w.serviceAccount.target}`) : "",
    note: w.lastFailure
      ? `last apply put it back on pod identity: ${w.lastFailure.reason}`
      : w.blockers.length
        ? `blocked: ${w.blockers.map((b) => b.code).join(", ")}`
        : `${STATE_WORDS[w.state]}${w.state === "verified" ? "; next: podid migrate finish" : w.state === "pod-identity" || w.state === "both" ? "; next: podid migrate apply" : ""}`,
  }));
}
