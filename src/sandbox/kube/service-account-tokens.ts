import { SignJWT, jwtVerify, type JWTPayload } from "jose";
import { randomUUID } from "node:crypto";
import { oidcDiscovery, type JwkSet, type OidcDiscovery } from "../oidc.js";
import type { SigningKey } from "../signing-key.js";

/** kube-apiserver's default --service-account-issuer, and AKS's before the OIDC issuer is enabled. */
export const DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local";
/** The audiences the API server itself accepts (--api-audiences): tokens for anything else do not authenticate to it. */
export const API_AUDIENCES = [DEFAULT_ISSUER];
/** go-jose's default leeway, which kube-apiserver's service-account authenticator uses. */
const LEEWAY_SECONDS = 60;

export interface IssuerConfig {
  /** The issuer new tokens carry (the cluster's OIDC issuer URL once enabled). */
  issuer: string;
  /** Every issuer whose tokens still authenticate: the current one first, the earlier default after it. */
  accepted: string[];
  /** What the discovery document names as the JWKS location. */
  jwksUri: string;
}

/** A reference of a token to the object it is bound to (kubernetes.io claims). */
export interface BoundRef {
  name: string;
  uid: string;
}

export interface TokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  "kubernetes.io": {
    namespace: string;
    serviceaccount: BoundRef;
    pod?: BoundRef;
    node?: BoundRef;
    secret?: BoundRef;
  };
}

export interface TokenInput {
  namespace: string;
  serviceAccount: BoundRef;
  audiences: string[];
  expirationSeconds: number;
  pod?: BoundRef;
  node?: BoundRef;
  secret?: BoundRef;
}

/**
 * The API server's service-account token signer: RS256 JWTs with the claims kube-apiserver 1.31 writes, signed with
 * the cluster's key (kept in the sandbox's state), issued and checked on the sandbox clock.
 */
export class ServiceAccountIssuer {
  constructor(
    private readonly key: SigningKey,
    private readonly config: () => IssuerConfig,
    private readonly now: () => number,
  ) {}

  get current(): IssuerConfig {
    return this.config();
  }

  async sign(input: TokenInput): Promise<{ token: string; expiresAtMs: number }> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + input.expirationSeconds;
    const claims: TokenClaims = {
      aud: input.audiences,
      exp,
      iat,
      iss: this.config().issuer,
      jti: randomUUID(),
      "kubernetes.io": {
        namespace: input.namespace,
        ...(input.node ? { node: input.node } : {}),
        ...(input.pod ? { pod: input.pod } : {}),
        ...(input.secret ? { secret: input.secret } : {}),
        serviceaccount: input.serviceAccount,
      },
      nbf: iat,
      sub: `system:serviceaccount:${input.namespace}:${input.serviceAccount.name}`,
    };
    const token = await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: this.key.publicJwk.kid }).sign(this.key.privateKey);
    return { token, expiresAtMs: exp * 1000 };
  }

  /** The claims of a token this cluster signed, from an accepted issuer, for one of `audiences`, valid now; else undefined. */
  async verify(token: string, audiences: string[]): Promise<TokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: ["RS256"],
        issuer: this.config().accepted,
        audience: audiences,
        currentDate: new Date(this.now()),
        clockTolerance: LEEWAY_SECONDS,
      });
      const k8s = (payload as Partial<TokenClaims>)["kubernetes.io"];
      return k8s?.serviceaccount?.name && k8s.namespace ? (payload as TokenClaims) : undefined;
    } catch {
      return undefined;
    }
  }

  jwks(): JwkSet {
    return { keys: [this.key.publicJwk] };
  }

  discovery(): OidcDiscovery {
    const c = this.config();
    return oidcDiscovery(c.issuer, c.jwksUri);
  }
}
