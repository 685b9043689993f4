import { redactText } from "./redact.js";

/** Levels as the Azure CLI exposes them: --only-show-errors < default < --verbose < --debug. */
export type LogLevel = "error" | "warn" | "info" | "verbose" | "debug";
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, verbose: 3, debug: 4 };

export interface Logger {
  level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
  debug(message: string): void;
  enabled(level: LogLevel): boolean;
}

/** The one logger for CLI, runtime and sandbox. Every line passes through redaction before it is written. */
export function createLogger(level: LogLevel = "warn", sink: (line: string) => void = (l) => process.stderr.write(l + "\n"), prefix = ""): Logger {
  const write = (lvl: LogLevel, tag: string, message: string) => {
    if (ORDER[lvl] <= ORDER[logger.level]) sink(`${prefix}${tag}${redactText(message)}`);
  };
  const logger: Logger = {
    level,
    error: (m) => write("error", "ERROR: ", m),
    warn: (m) => write("warn", "WARNING: ", m),
    info: (m) => write("info", "", m),
    verbose: (m) => write("verbose", "INFO: ", m),
    debug: (m) => write("debug", "DEBUG: ", m),
    enabled: (lvl) => ORDER[lvl] <= ORDER[logger.level],
  };
  return logger;
}
