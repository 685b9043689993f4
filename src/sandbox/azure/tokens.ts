import { SignJWT, jwtVerify, type JWK, type JWTPayload } from "jose";
import { randomBytes, randomUUID } from "node:crypto";
import { loadOrCreateSigningKey, type KeyLike } from "../signing-key.js";
import type { Principal } from "./model.js";

/** Lifetimes real Entra ID uses: ~1 h for app tokens, 24 h for managed identity tokens. */
export const APP_TOKEN_SECONDS = 3599;
export const MI_TOKEN_SECONDS = 86399;

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  expiresOn: number;
  notBefore: number;
  resource: string;
}

export interface VerifiedToken {
  payload: JWTPayload & { oid?: string; tid?: string; appid?: string; azp?: string; xms_mirid?: string };
}

/**
 * Entra ID's signing side: one RS256 key (kept in the sandbox dir, 0600, so tokens stay valid across
 * restarts), the JWKS that publishes it, and minting/verifying access tokens shaped like v1 app tokens.
 */
export class TokenService {
  private constructor(
    private readonly privateKey: KeyLike,
    private readonly publicKey: KeyLike,
    readonly publicJwk: JWK,
    readonly tenantId: string,
    /** Base URL of the Entra endpoint, e.g. https://127.0.0.1:4431 */
    readonly authorityUrl: string,
  ) {}

  static async open(keyFile: string, tenantId: string, authorityUrl: string): Promise<TokenService> {
    const key = await loadOrCreateSigningKey(keyFile);
    return new TokenService(key.privateKey, key.publicKey, key.publicJwk, tenantId, authorityUrl);
  }

  /** Issuer of v1 tokens (what ARM-audience tokens carry). */
  get issuerV1(): string {
    return `${this.authorityUrl}/${this.tenantId}/`;
  }

  get issuerV2(): string {
    return `${this.authorityUrl}/${this.tenantId}/v2.0`;
  }

  jwks(): { keys: JWK[] } {
    return { keys: [{ ...this.publicJwk, x5t: this.publicJwk.kid }] };
  }

  /** Mints an access token for `principal` to call `resource` (an audience such as the ARM endpoint). */
  async mint(principal: Principal, resource: string, nowMs = Date.now()): Promise<IssuedToken> {
    const lifetime = principal.kind === "managedIdentity" ? MI_TOKEN_SECONDS : APP_TOKEN_SECONDS;
    const iat = Math.floor(nowMs / 1000);
    const nbf = iat - 300;
    const exp = iat + lifetime;
    const claims: JWTPayload & Record<string, unknown> = {
      aud: resource,
      iss: this.issuerV1,
      iat,
      nbf,
      exp,
      aio: randomBytes(24).toString("base64url"),
      appid: principal.appId,
      appidacr: principal.kind === "managedIdentity" ? "2" : "1",
      idp: this.issuerV1,
      idtyp: "app",
      oid: principal.objectId,
      rh: randomBytes(16).toString("base64url"),
      sub: principal.objectId,
      tid: this.tenantId,
      uti: randomBytes(16).toString("base64url"),
      ver: "1.0",
    };
    if (principal.miResourceId) claims.xms_mirid = principal.miResourceId;
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: this.publicJwk.kid, x5t: this.publicJwk.kid })
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { accessToken, expiresIn: lifetime, expiresOn: exp, notBefore: nbf, resource };
  }

  /**
   * Checks a bearer token as a resource server does: signature, issuer (v1 or v2 form), audience, times.
   * Throws jose's typed errors; callers map them to their service's error body.
   */
  async verify(token: string, audiences: string[], nowMs = Date.now()): Promise<VerifiedToken> {
    const { payload } = await jwtVerify(token, this.publicKey, {
      currentDate: new Date(nowMs),
      issuer: [this.issuerV1, this.issuerV2],
      audience: audiences,
      algorithms: ["RS256"],
      clockTolerance: 300,
    });
    return { payload: payload as VerifiedToken["payload"] };
  }
}
