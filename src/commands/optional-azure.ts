import type { AzureOptions } from "../cli/options.js";
import type { CommandContext } from "../cli/context.js";
import type { AzureSession } from "../azure/session.js";

/** An Azure session for --cloud and --subscription; the Azure SDKs load here, when an action opens one. */
export async function openAzure(o: AzureOptions): Promise<AzureSession> {
  const { openAzureSession } = await import("../azure/session.js");
  return openAzureSession({ cloud: o.cloud, subscription: o.subscription });
}

/** For commands that work without Azure (listing, uninstall): undefined, said at --verbose, when no session can be opened. */
export async function optionalAzure(o: AzureOptions, ctx: CommandContext): Promise<AzureSession | undefined> {
  try {
    return await openAzure(o);
  } catch (err) {
    ctx.logger.verbose(`Azure is not used: ${(err as Error).message}`);
    return undefined;
  }
}
