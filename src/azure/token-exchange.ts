import { ClientAssertionCredential, type AuthenticationError } from "@azure/identity";
import type { Cloud } from "./cloud.js";

/**
 * Entra ID's client-assertion exchange, as a workload's WorkloadIdentityCredential makes it: a service-account
 * token of the cluster's issuer as the assertion, for a user-assigned identity's client id. Used to prove that a
 * federated credential works (and has propagated) without being the pod. The token issued is dropped unread but for
 * its expiry; it is never returned, logged or printed.
 */

export type ExchangeAnswer =
  | { ok: true; expiresOn: string }
  | {
      ok: false;
      /** Entra ID's code, e.g. AADSTS70021 (no matching federated identity record), or the failure's kind. */
      code: string;
      message: string;
    };

/** The AADSTS code of an Entra ID refusal: the service's error_codes, as MSAL carries them. */
export function aadstsCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const codes = (e as Partial<AuthenticationError>).errorResponse?.errorCodes ?? (e as { errorCodes?: unknown }).errorCodes;
    if (Array.isArray(codes) && codes.length) return `AADSTS${String(codes[0])}`;
    // MSAL's ServerError carries the codes only in its message, in Entra ID's fixed form "AADSTS<digits>:".
    const inMessage = /\b(AADSTS\d+):/.exec(e.message)?.[1];
    if (inMessage) return inMessage;
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.split("\n")[0].replace(/\s+Trace ID:.*$/, "").trim();
}

export async function exchangeAssertion(input: { cloud: Cloud; tenantId: string; clientId: string; assertion: string }): Promise<ExchangeAnswer> {
  const credential = new ClientAssertionCredential(input.tenantId, input.clientId, async () => input.assertion, {
    authorityHost: input.cloud.authorityHost,
    disableInstanceDiscovery: !input.cloud.knownAuthority,
  });
  try {
    const token = await credential.getToken(input.cloud.armScope);
    return { ok: true, expiresOn: new Date(token.expiresOnTimestamp).toISOString() };
  } catch (err) {
    return { ok: false, code: aadstsCode(err) ?? (err instanceof Error ? err.name : "Error"), message: firstLine(err instanceof Error ? err.message : String(err)) };
  }
}
