import type { AzureOptions } from "../cli/options.js";
import type { CommandContext } from "../cli/context.js";
import type { AzureSession } from "../azure/session.js";

/** For commands that work without Azure (listing, uninstall): undefined, said at --verbose, when no session can be opened. */
export async function optionalAzure(o: AzureOptions, ctx: CommandContext): Promise<AzureSession | undefined> {
  // Loaded by the action that needs it: command definitions stay free of the Azure SDKs.
  const { openAzureSession } = await import("../azure/session.js");
  try {
    return openAzureSession({ cloud: o.cloud, subscription: o.subscription });
  } catch (err) {
    ctx.logger.verbose(`Azure is not used: ${(err as Error).message}`);
    return undefined;
  }
}
