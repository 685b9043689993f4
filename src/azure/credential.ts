import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import type { Cloud } from "./cloud.js";

/**
 * The credential podid uses for ARM: DefaultAzureCredential (environment, workload identity, managed identity,
 * Azure CLI login...) against the cloud's authority. For any authority MSAL does not know (sovereign, Azure
 * Stack, the sandbox) instance discovery must be off, or MSAL asks the public cloud and fails.
 */
export function azureCredential(cloud: Cloud): TokenCredential {
  return new DefaultAzureCredential({
    authorityHost: cloud.authorityHost,
    disableInstanceDiscovery: !cloud.knownAuthority,
  });
}

/** Options every ARM management client gets: the cloud's endpoint and token audience. */
export function armClientOptions(cloud: Cloud): { endpoint: string; credentialScopes: string[] } {
  return { endpoint: cloud.resourceManager, credentialScopes: [cloud.armScope] };
}
