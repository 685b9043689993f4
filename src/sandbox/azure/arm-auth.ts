import { decodeJwt, errors as joseErrors } from "jose";
import type { SandboxRequest, SandboxResponse } from "../http/types.js";
import { ArmErrors } from "./arm-errors.js";
import { armAudiences, type CloudContext } from "./context.js";

/** Who is calling ARM: the token's object id. */
export interface ArmCaller {
  objectId: string;
}

function claimsOf(token: string): { aud?: string; iss?: string; exp?: number } {
  try {
    const claims = decodeJwt(token);
    return { aud: Array.isArray(claims.aud) ? claims.aud[0] : claims.aud, iss: claims.iss, exp: claims.exp };
  } catch {
    return {};
  }
}

/**
 * The first step of ARM's front door: a bearer token signed by the tenant's key, from its issuer, for ARM's
 * audience and within its lifetime. Each failure answers with the 401 body and challenge ARM sends for it.
 */
export async function authenticate(ctx: CloudContext, req: SandboxRequest): Promise<ArmCaller | SandboxResponse> {
  const authority = `${ctx.endpoints.entra}/${ctx.store.data.tenantId}`;
  const header = req.headers.authorization;
  if (!header) return ArmErrors.missingAuthorization(authority);
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return ArmErrors.unsupportedScheme(authority);
  const audiences = armAudiences(ctx.endpoints);
  try {
    const verified = await ctx.tokens.verify(m[1], audiences, ctx.now());
    const objectId = String(verified.payload.oid ?? "");
    return objectId ? { objectId } : ArmErrors.invalidToken(authority);
  } catch (err) {
    const claims = claimsOf(m[1]);
    if (err instanceof joseErrors.JWTExpired && claims.exp) return ArmErrors.expiredToken(authority, new Date(claims.exp * 1000), new Date(ctx.now()));
    if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === "aud") return ArmErrors.wrongAudience(authority, claims.aud ?? "", audiences);
    if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === "iss") return ArmErrors.wrongIssuer(authority, claims.iss ?? "", ctx.tokens.issuerV1);
    return ArmErrors.invalidToken(authority);
  }
}

export function isCaller(value: ArmCaller | SandboxResponse): value is ArmCaller {
  return "objectId" in value;
}
