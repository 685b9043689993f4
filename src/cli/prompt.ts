import { InterruptedError, UsageCode, UsageError } from "../errors/index.js";
import type { CommandContext } from "./context.js";

export interface MissingValue {
  /** The flag as the user types it, e.g. "-n/--name". */
  flag: string;
  message: string;
  /** The real choices (resource groups, identities, namespaces...), when there is a list to pick from. */
  choices?: () => Promise<string[]>;
  validate?: (value: string) => string;
}

/**
 * A required value the user left out: asked for on a TTY (never with --yes), otherwise a usage error.
 * inquirer is loaded only when a prompt is really shown, to keep the CLI's start fast.
 */
export async function askFor(ctx: CommandContext, given: string | undefined, missing: MissingValue, yes = false): Promise<string> {
  if (given !== undefined) return missing.validate ? missing.validate(given) : given;
  if (!ctx.interactive || yes) {
    throw new UsageError(`the following arguments are required: ${missing.flag}`, `Pass ${missing.flag} (see --help for examples).`, UsageCode.MissingArgument);
  }
  const { default: inquirer } = await import("inquirer");
  const choices = missing.choices ? await missing.choices().catch(() => []) : [];
  const validate = (value: string) => {
    try {
      missing.validate?.(value);
      return value.length > 0 || "a value is required";
    } catch (err) {
      return (err as Error).message;
    }
  };
  const answer = await cancellable(
    choices.length
      ? inquirer.prompt<{ value: string }>([{ type: "list", name: "value", message: missing.message, choices }])
      : inquirer.prompt<{ value: string }>([{ type: "input", name: "value", message: missing.message, validate }]),
  );
  return missing.validate ? missing.validate(answer.value) : answer.value;
}

/** A yes/no confirmation before something destructive: --yes skips it; without a TTY, --yes is required. */
export async function confirm(ctx: CommandContext, question: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!ctx.interactive) {
    throw new UsageError(`refusing to ${question} without confirmation`, "Pass --yes to confirm in a script.", UsageCode.ConfirmationRequired);
  }
  const { default: inquirer } = await import("inquirer");
  const { ok } = await cancellable(inquirer.prompt<{ ok: boolean }>([{ type: "confirm", name: "ok", message: `${question[0].toUpperCase()}${question.slice(1)}?`, default: false }]));
  if (!ok) throw new UsageError("cancelled", "Nothing was changed.", UsageCode.Cancelled);
}

/** Ctrl-C at a prompt (inquirer's ExitPromptError) is a cancel, not an error. */
async function cancellable<T>(answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (err) {
    if (err instanceof Error && err.name === "ExitPromptError") throw new InterruptedError();
    throw err;
  }
}
