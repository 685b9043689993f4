import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Storage } from "./storage.js";
import type { UserInfo } from "./rbac.js";
import { API_AUDIENCES, type BoundRef, type ServiceAccountIssuer } from "./service-account-tokens.js";

/**
 * Bearer-token authentication: one admin token (what the kubeconfig carries), one long-lived token per
 * ServiceAccount (what the sandbox kubelet mounts in pods, as the legacy token Secrets were), both kept in the
 * sandbox state so they survive restarts, and the signed JWTs TokenRequest issues (service-account-tokens.ts).
 */

export const ADMIN_USER: UserInfo = { name: "podid-admin", groups: ["system:masters", "system:authenticated"] };

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return {
    name: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
  };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class TokenAuthenticator {
  constructor(
    private readonly storage: Storage,
    private readonly issuer: ServiceAccountIssuer,
  ) {}

  get adminToken(): string {
    return this.storage.state.adminToken;
  }

  /** Issues the ServiceAccount's token if it has none yet. */
  ensureServiceAccountToken(namespace: string, name: string): string {
    const key = `${namespace}/${name}`;
    const tokens = this.storage.state.serviceAccountTokens;
    if (!tokens[key]) {
      tokens[key] = newToken();
      this.storage.persist();
    }
    return tokens[key];
  }

  revokeServiceAccountToken(namespace: string, name: string): void {
    delete this.storage.state.serviceAccountTokens[`${namespace}/${name}`];
    this.storage.persist();
  }

  /** The user a request's bearer token names, or undefined (401). */
  async authenticate(headers: IncomingHttpHeaders): Promise<UserInfo | undefined> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? "");
    if (!m) return undefined;
    const token = m[1];
    if (same(token, this.adminToken)) return ADMIN_USER;
    for (const [key, value] of Object.entries(this.storage.state.serviceAccountTokens)) {
      if (!same(token, value)) continue;
      const [namespace, name] = key.split("/");
      return serviceAccountUser(namespace, name);
    }
    return token.split(".").length === 3 ? this.authenticateJwt(token) : undefined;
  }

  /**
   * A signed service-account token is good while it is valid, meant for the API server (a token for Entra ID's
   * exchange is not), and while what it names still exists: its ServiceAccount, and the pod or Secret it is bound
   * to, each with the uid it had when the token was issued.
   */
  private async authenticateJwt(token: string): Promise<UserInfo | undefined> {
    const claims = await this.issuer.verify(token, API_AUDIENCES);
    if (!claims) return undefined;
    const k8s = claims["kubernetes.io"];
    const alive = (bucket: string, ref: BoundRef | undefined) => !ref || this.storage.get(bucket, k8s.namespace, ref.name)?.metadata.uid === ref.uid;
    if (!alive("serviceaccounts", k8s.serviceaccount) || !alive("pods", k8s.pod) || !alive("secrets", k8s.secret)) return undefined;
    return serviceAccountUser(k8s.namespace, k8s.serviceaccount.name);
  }
}
