import type { Command } from "commander";
import { createContext, type CommandContext } from "./context.js";
import { renderError } from "./render-error.js";
import { enableAzureTrace } from "../azure/trace.js";

/**
 * Wraps a command body: builds the context, prints the result, renders any error once and sets the exit code.
 * Command bodies never call process.exit.
 */
export function action<O extends object>(
  body: (options: O, ctx: CommandContext, cmd: Command) => Promise<unknown>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    let debug = false;
    try {
      debug = Boolean(cmd.optsWithGlobals().debug);
      const ctx = createContext(cmd);
      if (debug) enableAzureTrace(ctx.logger);
      const result = await body(cmd.opts<O>(), ctx, cmd);
      if (result !== undefined) ctx.print(result);
    } catch (err) {
      process.exitCode = renderError(err, { debug });
    }
  };
}

