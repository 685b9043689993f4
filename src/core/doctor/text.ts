import { Chalk } from "chalk";
import { ExitCode } from "../../errors/index.js";
import type { CheckStatus, DoctorReport } from "./model.js";

/** The exit code of a doctor run: 0 all ok (skipped checks do not count), 4 warnings only, 5 any failure. */
export function doctorExitCode(report: DoctorReport): ExitCode {
  return report.status === "fail" ? ExitCode.doctorFailures : report.status === "warn" ? ExitCode.doctorWarnings : ExitCode.ok;
}

/** A value as evidence: whole, never cut (what is cut cannot be checked). */
function evidence(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The report as people read it: one block per check, the fix under each finding. */
export function formatDoctorText(report: DoctorReport, color: boolean): string {
  const chalk = new Chalk({ level: color ? 1 : 0 });
  const tag: Record<CheckStatus, string> = { ok: chalk.green("[ok]     "), warn: chalk.yellow("[WARN]   "), fail: chalk.red("[FAIL]   "), skipped: chalk.gray("[skipped]") };
  const s = report.summary;
  const where = report.scope.allNamespaces ? "all namespaces" : `namespace ${report.scope.namespace}`;
  const lines = [
    chalk.bold(`podid doctor: ${report.status.toUpperCase()} — ${s.fail} fail, ${s.warn} warn, ${s.ok} ok, ${s.skipped} skipped (${where}${report.scope.identity ? `, identity ${report.scope.identity}` : ""}${report.scope.pod ? `, pod ${report.scope.pod}` : ""})`),
    "",
  ];
  for (const c of report.checks) {
    lines.push(`${tag[c.status]} ${String(c.number).padStart(2)}. ${c.title}`);
    const pad = " ".repeat(14);
    if (c.status === "skipped") {
      lines.push(`${pad}${chalk.gray(`skipped: ${c.reason ?? ""}`)}`);
      if (c.missingPermission) lines.push(`${pad}${chalk.gray(`missing permission: ${c.missingPermission}`)}`);
      continue;
    }
    const seen = Object.entries(c.observed).filter(([, v]) => v !== undefined);
    if (seen.length && c.status === "ok") lines.push(`${pad}${chalk.gray(seen.map(([k, v]) => `${k}: ${evidence(v)}`).join("; "))}`);
    for (const f of c.findings) {
      lines.push(`${pad}${f.severity === "fail" ? chalk.red("✗") : chalk.yellow("!")} ${f.message}`);
      if (f.errors.length) lines.push(`${pad}  errors you may see: ${f.errors.map((e) => `"${e}"`).join(", ")}`);
      if (f.fix) lines.push(`${pad}  fix: ${chalk.bold(f.fix)}`);
    }
  }
  return lines.join("\n");
}
