import type { Inventory } from "./inventory.js";
import { loadPlan, type MigrateContext } from "./load.js";
import type { MigrationPlan, MigrationState, WorkloadPlan } from "./model.js";
import { leftMidApply } from "./workload-changes.js";

/** A workload as `plan` and `status` show it in a table: the same columns, the ServiceAccount said one way. */
export interface WorkloadRow {
  namespace: string;
  workload: string;
  state: MigrationState;
  identities: string;
  /** `web-sa`, `default -> web (new)`: the one it runs as, where podid moves it, whether podid makes it. */
  serviceAccount: string;
}

export interface PlanRow extends WorkloadRow {
  proxy: boolean;
  migratable: boolean;
  blockers: string;
}

/** `podid migrate status`: one row per workload — where it stands, as the plan reads it, and what to do next. */
export interface StatusRow extends WorkloadRow {
  note: string;
}

export const STATE_WORDS: Record<MigrationState, string> = {
  "pod-identity": "pod identity only",
  both: "both paths",
  verified: "workload identity verified",
  finished: "finished",
};

export function workloadRow(w: WorkloadPlan): WorkloadRow {
  const sa = w.serviceAccount;
  return {
    namespace: w.namespace,
    workload: w.ref,
    state: w.state,
    identities: w.identities.join(", "),
    serviceAccount: sa ? `${sa.current === sa.target ? sa.target : `${sa.current} -> ${sa.target}`}${sa.create ? " (new)" : ""}` : "",
  };
}

export function planRows(plan: MigrationPlan): PlanRow[] {
  return plan.workloads.map((w) => ({ ...workloadRow(w), proxy: w.proxySidecar, migratable: w.migratable, blockers: w.blockers.map((b) => b.code).join(", ") }));
}

/** What went missing since a workload was verified (or finished): its ServiceAccount, its credentials. */
function missingSince(w: WorkloadPlan, plan: MigrationPlan): string[] {
  if (w.state !== "verified" && w.state !== "finished") return [];
  const missing: string[] = [];
  if (w.serviceAccount?.create) missing.push(`its ServiceAccount ${w.namespace}/${w.serviceAccount.target} is gone`);
  for (const c of plan.federatedCredentials) {
    if (c.action === "create" && c.workloads.includes(`${w.namespace}/${w.ref}`)) missing.push(`its federated credential ${c.name} of identity ${c.identity} is gone`);
  }
  return missing;
}

function note(w: WorkloadPlan, plan: MigrationPlan, inventory: Pick<Inventory, "workloads">): string {
  if (w.lastFailure) return `the last apply left it on pod identity: ${w.lastFailure.reason}`;
  if (w.blockers.length) return `blocked: ${w.blockers.map((b) => b.code).join(", ")}`;
  const missing = missingSince(w, plan);
  if (missing.length) return `${STATE_WORDS[w.state]}, but ${missing.join(" and ")}; next: podid migrate apply (puts it back)`;
  const workload = inventory.workloads.find((x) => x.kind === w.kind && x.metadata.namespace === w.namespace && x.metadata.name === w.name);
  const midApply = w.state === "both" ? leftMidApply(workload) : undefined;
  if (midApply) return `${STATE_WORDS[w.state]}: ${midApply}; next: podid migrate apply (verifies it) or podid migrate rollback`;
  return `${STATE_WORDS[w.state]}${w.state === "verified" ? "; next: podid migrate finish" : w.state === "pod-identity" || w.state === "both" ? "; next: podid migrate apply" : ""}`;
}

export function statusRows(plan: MigrationPlan, inventory: Pick<Inventory, "workloads">): StatusRow[] {
  return plan.workloads.map((w) => ({ ...workloadRow(w), note: note(w, plan, inventory) }));
}

export async function migrationStatus(ctx: MigrateContext): Promise<StatusRow[]> {
  const { plan, inventory } = await loadPlan(ctx);
  return statusRows(plan, inventory);
}
