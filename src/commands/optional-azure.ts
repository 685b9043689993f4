import type { AzureOptions } from "../cli/options.js";
import type { CommandContext } from "../cli/context.js";
import { openAzureSession, type AzureSession } from "../azure/session.js";

/** For commands that work without Azure (listing, uninstall): undefined, said at --verbose, when no session can be opened. */
export function optionalAzure(o: AzureOptions, ctx: CommandContext): AzureSession | undefined {
  try {
    return openAzureSession({ cloud: o.cloud, subscription: o.subscription });
  } catch (err) {
    ctx.logger.verbose(`Azure is not used: ${(err as Error).message}`);
    return undefined;
  }
}
