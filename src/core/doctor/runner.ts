import { toPodidError } from "../../errors/index.js";
import type { DoctorContext } from "./context.js";
import { CheckSkipped, DOCTOR_SCHEMA_VERSION, overallStatus, statusOf, type CheckOutcome, type CheckResult, type CheckStatus, type DoctorReport } from "./model.js";

/** One check: a small module under checks/. It only reads, through the shared context. */
export interface Check {
  id: string;
  /** Its number in issue 7's list. */
  number: number;
  title: string;
  /** A reason the check does not apply to this run (e.g. the probe without --probe), or undefined. */
  notApplicable?(ctx: DoctorContext): string | undefined;
  run(ctx: DoctorContext): Promise<CheckOutcome>;
}

const SYMBOL: Record<CheckStatus, string> = { ok: "ok", warn: "WARN", fail: "FAIL", skipped: "skipped" };

export async function runCheck(check: Check, ctx: DoctorContext): Promise<CheckResult> {
  const started = Date.now();
  const base = { id: check.id, number: check.number, title: check.title };
  const skip = (reason: string, missingPermission?: string): CheckResult => ({
    ...base,
    status: "skipped",
    reason,
    ...(missingPermission ? { missingPermission } : {}),
    observed: {},
    findings: [],
    durationMs: Date.now() - started,
  });
  const na = check.notApplicable?.(ctx);
  if (na) return skip(na);
  try {
    const outcome = await check.run(ctx);
    return { ...base, status: statusOf(outcome.findings), observed: outcome.observed, findings: outcome.findings, durationMs: Date.now() - started };
  } catch (err) {
    if (err instanceof CheckSkipped) return skip(err.reason, err.missingPermission);
    // Never a crash: a check that could not complete says why, and the others still report.
    const e = toPodidError(err);
    return skip(`the check could not complete: ${e.message}${e.remedy ? ` (${e.remedy})` : ""}`);
  }
}

/** Runs the checks concurrently (their reads are shared and cached by the context), reporting each as it ends. */
export async function runDoctor(
  checks: readonly Check[],
  ctx: DoctorContext,
  options: { podidVersion: string; progress?: (message: string) => void; now?: () => Date },
): Promise<DoctorReport> {
  let done = 0;
  const results = await Promise.all(
    checks.map(async (check) => {
      const result = await runCheck(check, ctx);
      options.progress?.(`${++done}/${checks.length} checked; ${check.title}: ${SYMBOL[result.status]}`);
      return result;
    }),
  );
  const summary: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skipped: 0 };
  for (const r of results) summary[r.status]++;
  const scope = ctx.scope;
  return {
    schemaVersion: DOCTOR_SCHEMA_VERSION,
    podidVersion: options.podidVersion,
    generatedAt: (options.now?.() ?? new Date()).toISOString(),
    status: overallStatus(results),
    scope: { namespace: scope.namespace ?? null, allNamespaces: scope.namespace === undefined, identity: scope.identity ?? null, pod: scope.pod ?? null, probe: scope.probe },
    summary,
    checks: results,
  };
}
