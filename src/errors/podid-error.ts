import { UnexpectedCode, type ErrorCode } from "./codes.js";
import { ExitCode } from "./exit-code.js";

export interface PodidErrorOptions {
  remedy?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
  exitCode?: ExitCode;
}

/** What toJSON gives: what a user may see. The cause is reduced to its name and message (see toJSON). */
export interface PodidErrorJson {
  name: string;
  code: ErrorCode;
  message: string;
  remedy?: string;
  exitCode: ExitCode;
  details?: Record<string, unknown>;
  cause?: { name: string; message: string; code?: ErrorCode };
}

/**
 * podid's one error hierarchy. Every failure a user can see is a PodidError with a stable code, a one-line
 * message (what went wrong) and a remedy (how to fix it); the CLI renders it once and exits with its exit code.
 * The family classes (families.ts) narrow the code; branch on `code`, which the compiler checks.
 */
export class PodidError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly remedy: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly exitCode: ExitCode;

  constructor(code: C, message: string, options: PodidErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "PodidError";
    this.code = code;
    this.remedy = options.remedy;
    this.details = options.details;
    this.exitCode = options.exitCode ?? ExitCode.error;
  }

  /**
   * The error as data. The cause is only named: an SDK error holds the request and response it came from,
   * which must not reach a log or an output by way of this.
   */
  toJSON(): PodidErrorJson {
    const json: PodidErrorJson = { name: this.name, code: this.code, message: this.message, exitCode: this.exitCode };
    if (this.remedy !== undefined) json.remedy = this.remedy;
    if (this.details !== undefined) json.details = this.details;
    const cause = this.cause;
    if (cause instanceof PodidError) json.cause = { name: cause.name, message: cause.message, code: cause.code };
    else if (cause instanceof Error) json.cause = { name: cause.name, message: cause.message };
    else if (cause !== undefined) json.cause = { name: typeof cause, message: String(cause) };
    return json;
  }
}

/** Wraps anything thrown into a PodidError without losing what it was. */
export function toPodidError(err: unknown): PodidError {
  if (err instanceof PodidError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PodidError(UnexpectedCode.Unexpected, message, {
    cause: err,
    remedy: "Re-run with --debug for details; if it persists, report it with that output.",
  });
}
