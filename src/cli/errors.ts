/**
 * podid's one error hierarchy. Every failure a user can see is a PodidError with a stable code, a one-line
 * message (what went wrong) and a remedy (how to fix it); the CLI renders it once and maps it to an exit code.
 */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  /** `podid doctor`: some check warns, none fails. */
  doctorWarnings: 4,
  /** `podid doctor`: at least one check fails. */
  doctorFailures: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface PodidErrorOptions {
  remedy?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
  exitCode?: ExitCode;
}

export class PodidError extends Error {
  readonly code: string;
  readonly remedy: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly exitCode: ExitCode;

  constructor(code: string, message: string, options: PodidErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "PodidError";
    this.code = code;
    this.remedy = options.remedy;
    this.details = options.details;
    this.exitCode = options.exitCode ?? ExitCode.error;
  }
}

/** Bad or missing arguments: exit 2, as the Azure CLI does. */
export class UsageError extends PodidError {
  constructor(message: string, remedy?: string, code = "UsageError") {
    super(code, message, { remedy, exitCode: ExitCode.usage });
    this.name = "UsageError";
  }
}

/** Something the command was asked to show or act on does not exist: exit 3. */
export class NotFoundError extends PodidError {
  constructor(code: string, message: string, remedy?: string) {
    super(code, message, { remedy, exitCode: ExitCode.notFound });
    this.name = "NotFoundError";
  }
}

/** Wraps anything thrown into a PodidError without losing what it was. */
export function toPodidError(err: unknown): PodidError {
  if (err instanceof PodidError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PodidError("Unexpected", message, {
    cause: err,
    remedy: "Re-run with --debug for details; if it persists, report it with that output.",
  });
}
