import { DefaultAzureCredential, type AccessToken, type GetTokenOptions, type TokenCredential } from "@azure/identity";
import type { Cloud } from "./cloud.js";

/**
 * The credential podid uses for ARM: DefaultAzureCredential (environment, workload identity, managed identity,
 * Azure CLI login...) against the cloud's authority. For any authority MSAL does not know (sovereign, Azure
 * Stack, the sandbox) instance discovery must be off, or MSAL asks the public cloud and fails.
 */
export function azureCredential(cloud: Cloud): TokenCredential {
  return sharingTokens(
    new DefaultAzureCredential({
      authorityHost: cloud.authorityHost,
      disableInstanceDiscovery: !cloud.knownAuthority,
    }),
  );
}

/** A shared token is asked for again this long before it expires (the SDKs refresh theirs from 2 minutes out). */
const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * One token per scope for the process: every ARM client (one per SDK) asks its credential on its first request,
 * and a command's parallel reads make those first requests together, which the credential's own cache does not
 * join. Requests with claims (a CAE challenge) or another tenant go to the credential as they are.
 */
export function sharingTokens(credential: TokenCredential): TokenCredential {
  const tokens = new Map<string, Promise<AccessToken | null>>();
  const getToken = async (scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> => {
    if (options?.claims || options?.tenantId) return credential.getToken(scopes, options);
    const key = `${[scopes].flat().join(" ")}|${options?.enableCae ? "cae" : ""}`;
    const shared = tokens.get(key);
    const held = shared && (await abortable(shared.catch(() => null), options?.abortSignal));
    if (shared && held && held.expiresOnTimestamp - REFRESH_MARGIN_MS > Date.now()) return held;
    if (shared && tokens.get(key) !== shared) return getToken(scopes, options);
    // The shared request is no one caller's to cancel: each caller stops waiting on its own signal instead.
    const asking = credential.getToken(scopes, { ...options, abortSignal: undefined });
    tokens.set(key, asking);
    asking.catch(() => tokens.get(key) === asking && tokens.delete(key));
    return abortable(asking, options?.abortSignal);
  };
  return { getToken };
}

/** `promise`, or its caller's abort (an AbortError, as the SDKs throw), whichever comes first. */
function abortable<T>(promise: Promise<T>, signal: GetTokenOptions["abortSignal"]): Promise<T> {
  if (!signal) return promise;
  const aborted = () => Object.assign(new Error("The operation was aborted."), { name: "AbortError" });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener("abort", onAbort), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

/** Options every ARM management client gets: the cloud's endpoint and token audience. */
export function armClientOptions(cloud: Cloud): { endpoint: string; credentialScopes: string[] } {
  return { endpoint: cloud.resourceManager, credentialScopes: [cloud.armScope] };
}
