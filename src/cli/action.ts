import type { Command } from "commander";
import type { CommandContext } from "./context.js";
import type { StopSignal } from "./interrupt.js";
import { InterruptedError } from "../errors/index.js";

/**
 * Wraps a command body: builds the context, prints the result, renders any error once and sets the exit code.
 * Command bodies never call process.exit. Ctrl-C ends the command quietly with exit 130 (SIGTERM: 143), saying what
 * it had already done; a command that cleans up on its own when interrupted (the demo) registers its own listener.
 */
export function action<O extends object>(
  body: (options: O, ctx: CommandContext, cmd: Command) => Promise<unknown>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    // Loaded when an action runs (they bring chalk and the formatters): a command's --help does without them.
    const [{ createContext }, { renderError }, { interruption, STOP_SIGNALS }] = await Promise.all([import("./context.js"), import("./render-error.js"), import("./interrupt.js")]);
    const cmd = args[args.length - 1] as Command;
    let debug = false;
    let ctx: CommandContext | undefined;
    const onSignal = (signal: StopSignal) => {
      if (process.listenerCount(signal) > 1) return;
      ctx?.progress.stop();
      process.exitCode = renderError(ctx ? interruption(ctx.progress, signal) : new InterruptedError(undefined, { exitCode: STOP_SIGNALS[signal] }), { debug });
      process.exit();
    };
    const signals = Object.keys(STOP_SIGNALS) as StopSignal[];
    signals.forEach((signal) => process.on(signal, onSignal));
    try {
      debug = Boolean(cmd.optsWithGlobals().debug);
      ctx = createContext(cmd);
      if (debug) {
        // Loaded only with --debug: the SDKs' loggers and the Kubernetes client are not every command's to pay for.
        (await import("../azure/trace.js")).enableAzureTrace(ctx.logger);
        (await import("../kube/trace.js")).enableKubeTrace(ctx.logger);
      }
      const result = await body(cmd.opts<O>(), ctx, cmd);
      if (result !== undefined) ctx.print(result);
    } catch (err) {
      ctx?.progress.stop();
      // Ctrl-C at a prompt: the same quiet cancel as during the command.
      process.exitCode = renderError(err instanceof InterruptedError && ctx ? interruption(ctx.progress) : err, { debug });
    } finally {
      ctx?.progress.stop();
      signals.forEach((signal) => process.off(signal, onSignal));
    }
  };
}
