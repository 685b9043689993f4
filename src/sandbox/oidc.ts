import type { JWK } from "jose";

/**
 * The two documents a Kubernetes service-account issuer publishes (kube-apiserver's `/.well-known/openid-configuration`
 * and `/openid/v1/jwks`, which AKS copies to the cluster's OIDC issuer URL), shaped as kube-apiserver writes them.
 */
export interface OidcDiscovery {
  issuer: string;
  jwks_uri: string;
  response_types_supported: string[];
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
}

export function oidcDiscovery(issuer: string, jwksUri: string): OidcDiscovery {
  return {
    issuer,
    jwks_uri: jwksUri,
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
  };
}

/** Where an issuer's discovery document is: the issuer without its trailing slash, then the well-known path (OIDC Discovery 1.0 §4). */
export function discoveryUrlOf(issuer: string): string {
  return `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
}

/** The JWKS path kube-apiserver serves, under an issuer (AKS's issuer URL ends with a slash). */
export function jwksUrlOf(issuer: string): string {
  return `${issuer.replace(/\/+$/, "")}/openid/v1/jwks`;
}

export interface JwkSet {
  keys: JWK[];
}
