import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Storage } from "./storage.js";
import type { UserInfo } from "./rbac.js";

/**
 * Bearer-token authentication: one admin token (what the kubeconfig carries) and one token per ServiceAccount
 * (what a pod gets mounted), both kept in the sandbox state so they survive restarts.
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
  constructor(private readonly storage: Storage) {}

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
  authenticate(headers: IncomingHttpHeaders): UserInfo | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? "");
    if (!m) return undefined;
    const token = m[1];
    if (same(token, this.adminToken)) return ADMIN_USER;
    for (const [key, value] of Object.entries(this.storage.state.serviceAccountTokens)) {
      if (!same(token, value)) continue;
      const [namespace, name] = key.split("/");
      return serviceAccountUser(namespace, name);
    }
    return undefined;
  }
}
