import type { TokenCredential } from "@azure/identity";
import type { V1Secret } from "@kubernetes/client-node";
import { BUILTIN_CLOUDS } from "../../azure/cloud.js";
import { TOKEN_FAILED } from "../../aadpodidentity/contract/messages.js";
import { identitySpec } from "../../aadpodidentity/spec.js";
import { IdentityType, type AzureIdentity } from "../../aadpodidentity/types.js";
import type { LiteKubeClient } from "../../kube/lite/client.js";
import { unverifiedIdentityClaims } from "../../util/jwt-claims.js";

/** The token as IMDS answers it: every value a string. */
export interface MsiToken {
  access_token: string;
  refresh_token: string;
  expires_in: string;
  expires_on: string;
  not_before: string;
  resource: string;
  token_type: string;
  client_id?: string;
  [other: string]: string | undefined;
}

/** A token could not be had. 403 when the authority refused (upstream's "refresh error"), 503 when unreachable. */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly status: 403 | 503,
  ) {
    super(message);
    this.name = "TokenError";
  }
}

export interface TokenSourceOptions {
  /** The node's IMDS, e.g. http://169.254.169.254:80 (NMI runs on the host network: not redirected). */
  imdsBaseUrl: string;
  /** For type 1/2 identities: the Secret is read from the API server, never cached. */
  kube?: LiteKubeClient;
  /** Authority for service principals whose AzureIdentity has no adEndpoint. */
  defaultAuthorityHost?: string;
  /** Tokens are served from cache until this long before they expire. */
  refreshBeforeExpiryMs?: number;
  now?: () => number;
  /** Told about each request NMI makes to IMDS or Entra (for metrics). */
  onFetch?: (kind: "imds" | "entra", ok: boolean, ms: number) => void;
}

const IMDS_API_VERSION = "2018-02-01";
const KNOWN_AUTHORITY_HOSTS = new Set(Object.values(BUILTIN_CLOUDS).map((c) => new URL(c.endpoints.activeDirectory).host.toLowerCase()));

/** An AAD v2 scope from a v1 resource: "https://vault.azure.net" -> "https://vault.azure.net/.default". */
export function scopeOf(resource: string): string {
  return resource.endsWith("/") ? `${resource}.default` : `${resource}/.default`;
}

/**
 * Tokens for identities: type 0 from the node's IMDS with the identity's client id, type 1 with the client
 * secret through @azure/identity. Cached per (identity, resource) until 5 minutes before expiry; concurrent
 * requests for the same key share one fetch.
 */
export class TokenSource {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<MsiToken>>();
  private readonly objectIds = new Map<string, string>();
  private readonly credentials = new Map<string, TokenCredential>();
  private readonly now: () => number;
  private readonly margin: number;

  constructor(private readonly options: TokenSourceOptions) {
    this.now = options.now ?? Date.now;
    this.margin = options.refreshBeforeExpiryMs ?? 5 * 60_000;
  }

  async tokenFor(identity: AzureIdentity, resource: string): Promise<MsiToken> {
    const key = `${identityKey(identity)}|${resource}`;
    const spec = identitySpec(identity);
    return this.cached(key, async () => {
      switch (spec.type) {
        case IdentityType.userAssignedMSI:
          return this.fromManagedIdentity(identity, resource);
        case IdentityType.servicePrincipal:
          return this.fromSecret(identity, resource);
        default:
          throw new TokenError(`identity type ${spec.type} of ${identity.metadata.namespace}/${identity.metadata.name} is not supported by this NMI`, 403);
      }
    });
  }

  /**
   * The object (principal) id of an identity, from the token NMI gets for it (its oid claim): how a request by
   * object_id is matched against the pod's own identities without ever asking IMDS about any other identity.
   */
  async objectIdOf(identity: AzureIdentity, resource: string): Promise<string | undefined> {
    const known = this.objectIds.get(identityKey(identity));
    if (known) return known;
    const token = await this.tokenFor(identity, resource);
    const objectId = unverifiedIdentityClaims(token.access_token).objectId?.toLowerCase();
    if (objectId) bounded(this.objectIds, identityKey(identity), objectId);
    return objectId;
  }

  /**
   * A user-assigned identity's token from the node's IMDS, asked for by its client id (else its resource id), and
   * kept only when IMDS's answer is for that very identity. Never a request that names no identity: IMDS would
   * answer with the node's own (system-assigned) identity.
   */
  private async fromManagedIdentity(identity: AzureIdentity, resource: string): Promise<MsiToken> {
    const { clientID, resourceID } = identitySpec(identity);
    const name = `${identity.metadata.namespace}/${identity.metadata.name}`;
    const clientId = clientID.trim();
    const resourceId = resourceID.trim();
    if (!clientId && !resourceId) {
      throw new TokenError(`AzureIdentity ${name} names neither a clientID nor a resourceID: NMI does not ask IMDS for the node's default identity instead`, 403);
    }
    const token = await this.fromImds(clientId ? { resource, client_id: clientId } : { resource, mi_res_id: resourceId });
    const claims = unverifiedIdentityClaims(token.access_token);
    const answered = clientId ? (token.client_id || claims.clientId) : claims.resourceId;
    const expected = clientId || resourceId;
    if (!answered || answered.toLowerCase() !== expected.toLowerCase()) {
      throw new TokenError(`IMDS answered for another identity than AzureIdentity ${name}'s ${clientId ? "client id" : "resource id"}; the token was dropped`, 403);
    }
    return token;
  }

  /** The node IMDS token call for a user-assigned identity. */
  private async fromImds(query: Record<string, string>): Promise<MsiToken> {
    const url = new URL("/metadata/identity/oauth2/token", this.options.imdsBaseUrl);
    url.searchParams.set("api-version", IMDS_API_VERSION);
    for (const [k, v] of Object.entries(query)) if (v) url.searchParams.set(k, v);
    const started = this.now();
    let res: Response;
    try {
      res = await fetch(url, { headers: { Metadata: "true" }, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      this.options.onFetch?.("imds", false, this.now() - started);
      throw new TokenError(`failed to reach IMDS: ${(err as Error).message}`, 503);
    }
    const text = await res.text();
    this.options.onFetch?.("imds", res.ok, this.now() - started);
    if (!res.ok) {
      let description = text;
      try {
        const body = JSON.parse(text) as { error?: string; error_description?: string };
        description = `${body.error ?? ""}: ${body.error_description ?? ""}`;
      } catch {
        /* not JSON: keep the text */
      }
      throw new TokenError(`IMDS answered ${res.status}: ${description}`, res.status >= 500 ? 503 : 403);
    }
    return stringValues(JSON.parse(text) as Record<string, unknown>);
  }

  private async fromSecret(identity: AzureIdentity, resource: string): Promise<MsiToken> {
    const spec = identitySpec(identity);
    const ref = spec.clientPassword;
    if (!ref?.name || !spec.tenantID || !spec.clientID) throw new TokenError(`AzureIdentity ${identity.metadata.namespace}/${identity.metadata.name} lacks tenantID, clientID or clientPassword`, 403);
    if (!this.options.kube) throw new TokenError("no Kubernetes session to read the client secret", 503);
    const path = `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`;
    const secret = await this.options.kube.get<V1Secret>(path).catch((err: Error) => {
      throw new TokenError(`failed to get Kubernetes secret ${ref.namespace}/${ref.name}, err: ${err.message}`, 403);
    });
    const data = secret?.data ?? {};
    const key = "clientsecret" in data ? "clientsecret" : Object.keys(data).sort()[0];
    if (!secret || !key) throw new TokenError(`failed to get Kubernetes secret ${ref.namespace}/${ref.name}, err: not found or empty`, 403);
    const clientSecret = Buffer.from(data[key], "base64").toString("utf8").trim();
    const authorityHost = (spec.adEndpoint || this.options.defaultAuthorityHost || "https://login.microsoftonline.com").replace(/\/+$/, "");
    const credKey = `${authorityHost}|${spec.tenantID}|${spec.clientID}|${clientSecret.length}:${secret.metadata?.resourceVersion ?? ""}`;
    let credential = this.credentials.get(credKey);
    if (!credential) {
      // Loaded only for service-principal identities: most nodes never need it (it costs NMI ~25 MiB).
      const { ClientSecretCredential } = await import("@azure/identity");
      credential = new ClientSecretCredential(spec.tenantID, spec.clientID, clientSecret, {
        authorityHost,
        disableInstanceDiscovery: !KNOWN_AUTHORITY_HOSTS.has(new URL(authorityHost).host.toLowerCase()),
      });
      this.credentials.set(credKey, credential);
    }
    const started = this.now();
    try {
      const token = await credential.getToken(scopeOf(resource));
      if (!token) throw new Error("the credential returned no token");
      this.options.onFetch?.("entra", true, this.now() - started);
      const nowS = Math.floor(this.now() / 1000);
      const expiresOn = Math.floor(token.expiresOnTimestamp / 1000);
      return {
        access_token: token.token,
        refresh_token: "",
        expires_in: String(expiresOn - nowS),
        expires_on: String(expiresOn),
        not_before: String(nowS),
        resource,
        token_type: "Bearer",
      };
    } catch (err) {
      this.options.onFetch?.("entra", false, this.now() - started);
      throw new TokenError(`${TOKEN_FAILED}: ${(err as Error).message.split("\n")[0]}`, 403);
    }
  }

  private async cached(key: string, fetchToken: () => Promise<MsiToken>): Promise<MsiToken> {
    const hit = this.cache.get(key);
    if (hit && hit.expiresOnMs - this.margin > this.now()) return this.fresh(hit);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = fetchToken().then(
        (token) => {
          this.inflight.delete(key);
          this.store(key, token);
          return token;
        },
        (err: unknown) => {
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private store(key: string, token: MsiToken): void {
    const expiresOnS = Number(token.expires_on);
    if (!Number.isFinite(expiresOnS)) return;
    // A pod chooses the resource: without a bound, asking for many would grow NMI without limit.
    for (const [k, v] of this.cache) if (v.expiresOnMs - this.margin <= this.now()) this.cache.delete(k);
    bounded(this.cache, key, { token, expiresOnMs: expiresOnS * 1000 });
  }

  /** A cached token with expires_in counted from now: one object per second of it, however many requests ask. */
  private fresh(entry: CachedToken): MsiToken {
    const expiresIn = String(Math.max(0, Math.floor((entry.expiresOnMs - this.now()) / 1000)));
    if (entry.served?.expires_in !== expiresIn) entry.served = { ...entry.token, expires_in: expiresIn };
    return entry.served;
  }
}

interface CachedToken {
  token: MsiToken;
  expiresOnMs: number;
  /** The answer last served from this entry (see fresh()). */
  served?: MsiToken;
}

/** Cached tokens and object ids kept at most: past it the oldest entry goes. */
const MAX_CACHED = 512;

/** Sets key to value, dropping the oldest entries (insertion order) beyond MAX_CACHED. */
function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= MAX_CACHED) break;
    map.delete(oldest);
  }
}

/** What tells identities apart for caching: type, tenant, client id and resource id (either may be absent). */
function identityKey(identity: AzureIdentity): string {
  const spec = identitySpec(identity);
  return [spec.type, spec.tenantID, spec.clientID, spec.resourceID].map((v) => String(v).trim().toLowerCase()).join("|");
}

function stringValues(body: Record<string, unknown>): MsiToken {
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, typeof v === "string" ? v : String(v)])) as MsiToken;
}
