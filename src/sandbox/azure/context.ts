import type { SandboxClock } from "../clock.js";
import type { JsonStore } from "../store.js";
import type { AzureState } from "./model.js";
import type { TokenService } from "./tokens.js";

/** Where each emulated service of the sandbox cloud listens. */
export interface CloudEndpoints {
  /** Entra ID authority host, e.g. https://127.0.0.1:40001 (no trailing slash). */
  entra: string;
  /** ARM, e.g. https://127.0.0.1:40002 (no trailing slash). */
  arm: string;
  /** The ARM token audience the cloud profile names (activeDirectoryResourceId), with trailing slash. */
  armResourceId: string;
  /** IMDS base URL per node name, e.g. http://127.0.0.1:40003 */
  imds: Record<string, string>;
  /** The clusters' OIDC issuer host (AKS's https://<region>.oic.prod-aks.azure.com), no trailing slash. */
  oidcIssuer: string;
}

/** What every handler of the sandbox cloud shares. */
export interface CloudContext {
  store: JsonStore<AzureState>;
  tokens: TokenService;
  endpoints: CloudEndpoints;
  /** The sandbox clock (clock.ts); `now()` is its time in epoch ms. */
  clock: SandboxClock;
  now(): number;
  /** CA certificates Entra ID trusts when it fetches an issuer's OIDC documents (the sandbox CA). */
  trustedCa?: string;
  log(line: string): void;
}

/** Audiences ARM accepts: its own URL and the management resource id, with and without trailing slash. */
export function armAudiences(endpoints: CloudEndpoints): string[] {
  const bases = [endpoints.arm, endpoints.armResourceId, "https://management.azure.com", "https://management.core.windows.net"];
  return [...new Set(bases.flatMap((b) => [b.replace(/\/+$/, ""), b.replace(/\/+$/, "") + "/"]))];
}
