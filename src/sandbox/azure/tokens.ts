import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify, calculateJwkThumbprint, type JWK, type JWTPayload } from "jose";
import { randomBytes, randomUUID, type webcrypto } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { SECRET_FILE_MODE, writeFileAtomic } from "../../util/files.js";
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

type KeyLike = webcrypto.CryptoKey | Uint8Array;

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
    let privateJwk: JWK;
    if (existsSync(keyFile)) {
      privateJwk = JSON.parse(readFileSync(keyFile, "utf8")) as JWK;
    } else {
      const pair = await generateKeyPair("RS256", { extractable: true });
      privateJwk = await exportJWK(pair.privateKey);
      privateJwk.kid = (await calculateJwkThumbprint(privateJwk)).slice(0, 27);
      writeFileAtomic(keyFile, JSON.stringify(privateJwk), SECRET_FILE_MODE);
    }
    // The public half: every member but the private ones.
    const { d, p, q, dp, dq, qi, ...pub } = privateJwk;
    const publicJwk: JWK = { ...pub, use: "sig", alg: "RS256", kty: "RSA", kid: privateJwk.kid };
    const privateKey = (await importJWK({ ...privateJwk, alg: "RS256" }, "RS256")) as KeyLike;
    const publicKey = (await importJWK({ ...publicJwk }, "RS256")) as KeyLike;
    return new TokenService(privateKey, publicKey, publicJwk, tenantId, authorityUrl);
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
  async verify(token: string, audiences: string[]): Promise<VerifiedToken> {
    const { payload } = await jwtVerify(token, this.publicKey, {
      issuer: [this.issuerV1, this.issuerV2],
      audience: audiences,
      algorithms: ["RS256"],
      clockTolerance: 300,
    });
    return { payload: payload as VerifiedToken["payload"] };
  }
}
