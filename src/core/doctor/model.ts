/**
 * `podid doctor`'s result model. The JSON form of DoctorReport is a stable, documented schema (docs/doctor.md):
 * fields are only ever added; a breaking change bumps DOCTOR_SCHEMA_VERSION.
 */
export const DOCTOR_SCHEMA_VERSION = 1;

export type CheckStatus = "ok" | "warn" | "fail" | "skipped";
export type Severity = "warn" | "fail";

/** One thing found wrong, and how to fix it. */
export interface Finding {
  severity: Severity;
  /** What is wrong, naming the objects involved. */
  message: string;
  /** The error strings users see in MIC/NMI logs, ARM answers or the pod, for searching. */
  errors: string[];
  /** A command the user can paste (podid's, az's or kubectl's), or undefined when there is none. */
  fix?: string;
  /** The objects and ids the finding is about (`AzureIdentity team-a/web-id`, a resource id, ...). */
  objects: string[];
}

export interface CheckResult {
  /** Stable id, e.g. `kubelet-roles`. */
  id: string;
  /** The check's number in issue 7's list, for cross-reference. */
  number: number;
  title: string;
  status: CheckStatus;
  /** Why the check did not run (status skipped only). */
  reason?: string;
  /** The permission whose absence made it skip, when that was the cause (an Azure action or a Kubernetes verb/resource). */
  missingPermission?: string;
  /** What the check looked at: objects, ids, versions. */
  observed: Record<string, unknown>;
  findings: Finding[];
  durationMs: number;
}

export interface DoctorReport {
  schemaVersion: typeof DOCTOR_SCHEMA_VERSION;
  podidVersion: string;
  generatedAt: string;
  /** ok when every check is ok or skipped; else the worst of warn and fail. */
  status: "ok" | "warn" | "fail";
  scope: { namespace: string | null; allNamespaces: boolean; identity: string | null; pod: string | null; probe: boolean };
  summary: Record<CheckStatus, number>;
  checks: CheckResult[];
}

/** Thrown by a check or a context read when something cannot be read: the check is skipped, naming why. */
export class CheckSkipped extends Error {
  constructor(
    readonly reason: string,
    readonly missingPermission?: string,
  ) {
    super(reason);
    this.name = "CheckSkipped";
  }
}

/** What a check returns; its status follows from the findings (any fail -> fail, else any warn -> warn, else ok). */
export interface CheckOutcome {
  observed: Record<string, unknown>;
  findings: Finding[];
}

export function statusOf(findings: readonly Finding[]): CheckStatus {
  if (findings.some((f) => f.severity === "fail")) return "fail";
  if (findings.some((f) => f.severity === "warn")) return "warn";
  return "ok";
}

export function overallStatus(checks: readonly CheckResult[]): DoctorReport["status"] {
  if (checks.some((c) => c.status === "fail")) return "fail";
  if (checks.some((c) => c.status === "warn")) return "warn";
  return "ok";
}

export function finding(severity: Severity, message: string, options: { errors?: string[]; fix?: string; objects?: string[] } = {}): Finding {
  return { severity, message, errors: options.errors ?? [], ...(options.fix ? { fix: options.fix } : {}), objects: options.objects ?? [] };
}
