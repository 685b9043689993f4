import { UsageCode, UsageError } from "../errors/index.js";
import { checkGuid } from "../core/validate.js";
import { resolveCloud, type Cloud } from "./cloud.js";

/** Which cloud and subscription Azure calls go to, as --cloud and --subscription (or the environment) say. */
export interface AzureTarget {
  cloud: Cloud;
  subscriptionId: string;
}

export interface AzureTargetOptions {
  cloud?: string;
  subscription?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * --subscription, else AZURE_SUBSCRIPTION_ID; podid needs to know which one before it touches anything. Loads no
 * Azure SDK, so that a command refuses a missing or malformed subscription before it loads them.
 */
export function azureTarget(options: AzureTargetOptions = {}): AzureTarget {
  const env = options.env ?? process.env;
  const cloud = resolveCloud(options.cloud, env);
  const subscription = options.subscription ?? env.AZURE_SUBSCRIPTION_ID;
  if (!subscription) {
    throw new UsageError(
      "no subscription given",
      "Pass --subscription <id> or set AZURE_SUBSCRIPTION_ID (for the sandbox: eval \"$(podid sandbox env)\").",
      UsageCode.MissingSubscription,
    );
  }
  return { cloud, subscriptionId: checkGuid("--subscription", subscription) };
}
