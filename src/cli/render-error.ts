import { Chalk } from "chalk";
import { redactText } from "../util/redact.js";
import { colorAllowed } from "./context.js";
import { InterruptedError, toPodidError, type PodidError } from "../errors/index.js";

/**
 * The one place errors become text: `ERROR: <message>` then the remedy, on stderr; returns the exit code. A cancel
 * (Ctrl-C) is no error: one quiet line, and what was already done.
 */
export function renderError(err: unknown, options: { debug: boolean }): number {
  const e: PodidError = toPodidError(err);
  if (e instanceof InterruptedError) {
    process.stderr.write(`\n${e.message.charAt(0).toUpperCase()}${e.message.slice(1)}.\n${e.remedy ? `${e.remedy}\n` : ""}`);
    return e.exitCode;
  }
  const chalk = new Chalk({ level: colorAllowed(process.stderr) ? 1 : 0 });
  const lines = [chalk.red(`ERROR: ${redactText(e.message)}`)];
  if (e.remedy) lines.push(redactText(e.remedy));
  if (options.debug) {
    lines.push(`code: ${e.code}`);
    if (e.stack) lines.push(redactText(e.stack));
    if (e.cause instanceof Error && e.cause.stack) lines.push("caused by: " + redactText(e.cause.stack));
  }
  process.stderr.write(lines.join("\n") + "\n");
  return e.exitCode;
}
