import type { Command } from "commander";
import { createLogger, type LogLevel, type Logger } from "../util/logger.js";
import { formatResult, parseOutputFormat, type OutputFormat } from "./output.js";

/** The Azure-CLI-style options every command accepts. */
export interface GlobalOptions {
  output: OutputFormat;
  /** Whether -o was given, or json is only the default (render then prefers YAML). */
  outputGiven: boolean;
  query?: string;
  onlyShowErrors: boolean;
  verbose: boolean;
  debug: boolean;
}

export interface CommandContext {
  globals: GlobalOptions;
  logger: Logger;
  /** True when stdout is a terminal: colour and prompts are allowed. */
  interactive: boolean;
  /** Prints a command's result in the chosen format, after --query. */
  print(result: unknown): void;
  /** Shows what a waiting command is doing: on a terminal, or with --verbose; never with --only-show-errors. */
  progress(message: string): void;
}

export function readGlobals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<Record<string, unknown>>();
  return {
    output: parseOutputFormat(String(o.output ?? "json")),
    outputGiven: cmd.getOptionValueSourceWithGlobals("output") === "cli",
    query: typeof o.query === "string" ? o.query : undefined,
    onlyShowErrors: Boolean(o.onlyShowErrors),
    verbose: Boolean(o.verbose),
    debug: Boolean(o.debug),
  };
}

function logLevel(g: GlobalOptions): LogLevel {
  if (g.debug) return "debug";
  if (g.verbose) return "verbose";
  if (g.onlyShowErrors) return "error";
  return "info";
}

export function colorAllowed(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}

export function createContext(cmd: Command): CommandContext {
  const globals = readGlobals(cmd);
  const logger = createLogger(logLevel(globals));
  return {
    globals,
    logger,
    interactive: Boolean(process.stdout.isTTY && process.stdin.isTTY),
    progress(message: string) {
      if (globals.onlyShowErrors) return;
      if (process.stderr.isTTY || globals.verbose || globals.debug) process.stderr.write(`${message}\n`);
    },
    print(result: unknown) {
      const text = formatResult(result, {
        format: globals.output,
        query: globals.query,
        color: colorAllowed(process.stdout),
      });
      if (text) process.stdout.write(text + "\n");
    },
  };
}
