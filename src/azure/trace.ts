import { format } from "node:util";
import { AzureLogger, setLogLevel } from "@azure/logger";
import type { Logger } from "../util/logger.js";

/**
 * The SDKs' notes to their own callers about SDK internals, not about the user's request: @azure/identity builds
 * its clients with an option core-client has deprecated, and says so on every client it makes.
 */
const SDK_NOISE = /has been deprecated, please use/;

/**
 * --debug: the Azure SDK's own HTTP trace (requests and responses, with its allowlist sanitizer already applied)
 * routed through podid's logger, which redacts tokens and secrets once more before anything is written.
 */
export function enableAzureTrace(logger: Logger): void {
  setLogLevel("info");
  AzureLogger.log = (...args: unknown[]) => {
    const text = format(...args);
    if (!SDK_NOISE.test(text)) logger.debug(text);
  };
}
