/**
 * The claims of a JWT read without checking its signature: only for tokens that came straight from the issuer
 * over a trusted channel (IMDS's answer to NMI, a token a pod was just handed), to see which identity it is for.
 * Never for deciding whether a token presented by someone else is valid.
 */
export interface IdentityClaims {
  /** The application (client) id: v1 tokens say appid, v2 tokens azp. */
  clientId?: string;
  /** The service principal's object id. */
  objectId?: string;
  /** A managed identity's resource id (xms_mirid). */
  resourceId?: string;
}

export function unverifiedIdentityClaims(token: string): IdentityClaims {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { appid?: unknown; azp?: unknown; oid?: unknown; xms_mirid?: unknown };
    const text = (v: unknown) => (typeof v === "string" && v ? v : undefined);
    return { clientId: text(claims.appid) ?? text(claims.azp), objectId: text(claims.oid), resourceId: text(claims.xms_mirid) };
  } catch {
    return {};
  }
}
