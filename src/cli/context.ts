import type { Command } from "commander";
import { createLogger, type LogLevel, type Logger } from "../util/logger.js";
import { checkQuery, formatResult } from "./output.js";
import { parseOutputFormat, type OutputFormat } from "./output-formats.js";
import { createProgressDisplay, type ProgressDisplay, type ProgressMode } from "./progress.js";

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
  /**
   * What a command is doing, step by step: live on a terminal, one line per step with --verbose (or --debug)
   * elsewhere, never with --only-show-errors. Pass it as the `progress` of core functions.
   */
  progress: ProgressDisplay;
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

/** Live on a terminal (but not under --debug, whose lines would tear it), lines with --verbose, else nothing. */
export function progressMode(g: GlobalOptions, stderrIsTTY: boolean): ProgressMode {
  if (g.onlyShowErrors) return "off";
  if (stderrIsTTY && !g.debug) return "live";
  return g.verbose || g.debug ? "lines" : "off";
}

export function createContext(cmd: Command): CommandContext {
  const globals = readGlobals(cmd);
  checkQuery(globals.query);
  const progress = createProgressDisplay({ mode: progressMode(globals, Boolean(process.stderr.isTTY)), stream: process.stderr, color: colorAllowed(process.stderr) });
  // Log lines go through the progress display, so a warning never lands in the middle of its live line.
  const logger = createLogger(logLevel(globals), (line) => progress.writeLine(line));
  return {
    globals,
    logger,
    interactive: Boolean(process.stdout.isTTY && process.stdin.isTTY),
    progress,
    print(result: unknown) {
      progress.stop();
      const text = formatResult(result, {
        format: globals.output,
        query: globals.query,
        outputGiven: globals.outputGiven,
        color: colorAllowed(process.stdout),
      });
      if (text) process.stdout.write(text + "\n");
    },
  };
}
