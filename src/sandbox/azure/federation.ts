import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK, type JWK, type JWTPayload } from "jose";
import type { SandboxResponse } from "../http/types.js";
import type { CloudContext } from "./context.js";
import { entraErrors } from "./entra-errors.js";
import type { ArmResource, AzureState, FederatedMatch, Principal } from "./model.js";
import { fetchIssuerKeys } from "./oidc-fetch.js";
import { key } from "./scopes.js";

export const FEDERATED_CREDENTIAL_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials";

export interface FederatedCredentialProperties {
  issuer: string;
  subject: string;
  audiences: string[];
  description?: string;
}

/** The federated identity credentials of a user-assigned identity (by the identity's resource id). */
export function federatedCredentialsOf(state: AzureState, identityId: string): ArmResource[] {
  const prefix = `${key(identityId)}/federatedidentitycredentials/`;
  return Object.entries(state.resources)
    .filter(([k, r]) => k.startsWith(prefix) && r.type === FEDERATED_CREDENTIAL_TYPE)
    .map(([, r]) => r);
}

function matchOf(p: FederatedMatch): FederatedMatch {
  return { issuer: p.issuer, subject: p.subject, audiences: [...p.audiences] };
}

function sameMatch(a: FederatedMatch, b: FederatedMatch): boolean {
  return a.issuer === b.issuer && a.subject === b.subject && a.audiences.length === b.audiences.length && a.audiences.every((x, i) => x === b.audiences[i]);
}

/** What Entra ID's token exchange matches for a credential at `now`: none while a new one propagates. */
export function knownToEntra(state: AzureState, credential: ArmResource, now: number): FederatedMatch | undefined {
  const view = state.federation?.[key(credential.id)];
  if (!view || view.readyAt <= now) return matchOf(credential.properties as unknown as FederatedCredentialProperties);
  return view.previous;
}

/**
 * Tells Entra ID of an ARM write of a credential (`before` its existing properties, if any). A new credential, or a
 * changed issuer, subject or audience, reaches the token exchange after the federation delay, the value it knew
 * still matching until then (a working exchange is not cut off by an update); the same value written again, or a
 * new description, changes nothing there.
 */
export function recordFederatedWrite(state: AzureState, credential: ArmResource, before: FederatedMatch | undefined, now: number, delaySeconds: number): void {
  const after = credential.properties as unknown as FederatedCredentialProperties;
  if (before && sameMatch(before, after)) return;
  const previous = before ? knownToEntra(state, { ...credential, properties: { ...before } }, now) : undefined;
  (state.federation ??= {})[key(credential.id)] = { readyAt: now + delaySeconds * 1000, ...(previous ? { previous } : {}) };
}

/** A deleted credential is gone from Entra ID's view too. */
export function forgetFederatedCredential(state: AzureState, id: string): void {
  delete state.federation?.[key(id)];
}

function audiencesOf(payload: JWTPayload): string[] {
  if (typeof payload.aud === "string") return [payload.aud];
  return Array.isArray(payload.aud) ? payload.aud.filter((a): a is string => typeof a === "string") : [];
}

/**
 * Entra ID's exchange of a federated client assertion for `principal`, in Entra's order: a well-formed RS256 JWT; a
 * federated identity credential of the identity whose value as Entra knows it by now (federation delay) has issuer, subject
 * and audience equal the assertion's exactly (case and spaces count, no wildcards); the issuer's keys fetched from
 * its discovery document over HTTPS; the signature; then the assertion's time window on the sandbox clock.
 * Undefined when the assertion is accepted, else Entra's error.
 */
export async function checkFederatedAssertion(ctx: CloudContext, principal: Principal, assertion: string): Promise<SandboxResponse | undefined> {
  const errors = entraErrors(() => ctx.now());
  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    payload = decodeJwt(assertion);
  } catch {
    return errors.malformedAssertion();
  }
  // Unsigned (alg none) or symmetrically signed assertions are never federated tokens.
  if (header.alg !== "RS256" || assertion.split(".")[2] === "") return errors.malformedAssertion();
  const issuer = typeof payload.iss === "string" ? payload.iss : "";
  // Entra ID's own tokens (any of its issuer forms) are never federated assertions, whatever credential names them.
  if (issuer.toLowerCase().startsWith(`${ctx.endpoints.entra.toLowerCase()}/`)) return errors.entraIssuedAssertion();
  const subject = typeof payload.sub === "string" ? payload.sub : "";
  const audiences = audiencesOf(payload);
  const now = ctx.now();
  const credentials = principal.miResourceId ? federatedCredentialsOf(ctx.store.data, principal.miResourceId) : [];
  const match = credentials.find((c) => {
    const p = knownToEntra(ctx.store.data, c, now);
    return p !== undefined && p.issuer === issuer && p.subject === subject && p.audiences.some((a) => audiences.includes(a));
  });
  if (!match) return errors.noMatchingFederatedIdentity(issuer, subject, audiences.join(","));

  const keys = await fetchIssuerKeys(issuer, ctx.trustedCa);
  if (!keys) return errors.externalOidcEndpointFailed();
  const kid = typeof header.kid === "string" ? header.kid : "";
  const jwk: JWK | undefined = kid ? keys.find((k) => k.kid === kid) : keys.length === 1 ? keys[0] : undefined;
  if (!jwk || (jwk.kty !== "RSA")) return errors.signingKeyNotFound(kid, issuer);
  try {
    await compactVerify(assertion, await importJWK({ ...jwk, alg: "RS256" }, "RS256"), { algorithms: ["RS256"] });
  } catch {
    return errors.assertionSignatureInvalid(kid);
  }

  const exp = typeof payload.exp === "number" ? payload.exp * 1000 : 0;
  const nbf = typeof payload.nbf === "number" ? payload.nbf * 1000 : 0;
  if (!exp || now >= exp || now < nbf) return errors.assertionOutsideValidTime(now, nbf, exp);
  return undefined;
}
