import { format } from "node:util";
import { AzureLogger, setLogLevel } from "@azure/logger";
import type { Logger } from "../util/logger.js";

/**
 * --debug: the Azure SDK's own HTTP trace (requests and responses, with its allowlist sanitizer already applied)
 * routed through podid's logger, which redacts tokens and secrets once more before anything is written.
 */
export function enableAzureTrace(logger: Logger): void {
  setLogLevel("info");
  AzureLogger.log = (...args: unknown[]) => logger.debug(format(...args));
}
