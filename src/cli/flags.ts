import { UsageError } from "../errors/index.js";
import { parseGoBool } from "../util/go-bool.js";

/**
 * Parsers for the runtime components' upstream-compatible flags (Go flag / pflag conventions), so
 * manifests written for aad-pod-identity keep working.
 */

/** pflag booleans: `--flag`, `--flag=true`, `--flag=false` (and the other spellings Go's ParseBool takes, `=1`, `=t`, ...). */
export function flagBool(name: string, value: string | boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === "boolean") return value;
  const parsed = parseGoBool(value);
  if (parsed === undefined) throw new UsageError(`--${name} takes true or false, not '${value}'`);
  return parsed;
}

export function flagNumber(name: string, value: string, { min = 0, integer = true } = {}): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be a ${integer ? "whole " : ""}number >= ${min}, not '${value}'`);
  return n;
}

/** A TCP port: a whole number from 0 (any free port) to 65535. */
export function flagPort(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new UsageError(`--${name} must be a port number from 0 to 65535, not '${value}'`, `Pass e.g. --${name}=8000.`);
  return n;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`3600s`, `1h30m`, `500ms`, `1.5s`) in milliseconds; a bare number means seconds. */
export function flagDuration(name: string, value: string): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== text) {
    throw new UsageError(`--${name} must be a duration such as 30s, 3m or 1h, not '${value}'`);
  }
  return parts.reduce((ms, [, n, unit]) => ms + Number(n) * UNIT_MS[unit], 0);
}

/** A comma-separated list, trimmed, empties dropped. */
export function flagList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
