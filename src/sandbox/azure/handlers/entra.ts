import { timingSafeEqual } from "node:crypto";
import { Router } from "../../http/router.js";
import { json, type Handler, type SandboxRequest, type SandboxResponse } from "../../http/types.js";
import type { CloudContext } from "../context.js";
import { entraErrors, type EntraErrors } from "../entra-errors.js";
import { checkFederatedAssertion } from "../federation.js";
import type { Principal } from "../model.js";

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Tenant aliases that metadata endpoints accept but that cannot issue app tokens. */
const MULTI_TENANT = new Set(["common", "organizations", "consumers"]);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The Entra ID (login.microsoftonline.com) endpoints a client-credentials client and MSAL use. */
export class EntraHandlers {
  private readonly errors: EntraErrors;

  constructor(private readonly ctx: CloudContext) {
    this.errors = entraErrors(() => ctx.now());
  }

  private get tenantId(): string {
    return this.ctx.store.data.tenantId;
  }

  /** The tenant segment of the path names this tenant (id) or, for metadata, a multi-tenant alias. */
  private resolveTenant(segment: string, allowAlias: boolean): string | undefined {
    const s = segment.toLowerCase();
    if (s === this.tenantId.toLowerCase()) return this.tenantId;
    if (allowAlias && MULTI_TENANT.has(s)) return "{tenantid}";
    return undefined;
  }

  openIdConfiguration = (version: "v1" | "v2"): Handler => (req) => {
    const tenant = this.resolveTenant(req.params.tenant, true);
    if (!tenant) return this.errors.tenantNotFound(req.params.tenant);
    const base = `${this.ctx.endpoints.entra}/${req.params.tenant}`;
    const v2 = version === "v2";
    const issuer = v2 ? `${this.ctx.endpoints.entra}/${tenant}/v2.0` : `${this.ctx.endpoints.entra}/${tenant}/`;
    return json(200, {
      token_endpoint: v2 ? `${base}/oauth2/v2.0/token` : `${base}/oauth2/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: v2 ? `${base}/discovery/v2.0/keys` : `${base}/discovery/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${this.ctx.endpoints.entra}/oidc/userinfo`,
      authorization_endpoint: v2 ? `${base}/oauth2/v2.0/authorize` : `${base}/oauth2/authorize`,
      device_authorization_endpoint: v2 ? `${base}/oauth2/v2.0/devicecode` : `${base}/oauth2/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: v2 ? `${base}/oauth2/v2.0/logout` : `${base}/oauth2/logout`,
      claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "oid", "ver"],
      tenant_region_scope: "NA",
      cloud_instance_name: new URL(this.ctx.endpoints.entra).host,
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: "graph.microsoft.com",
      rbac_url: "https://pas.windows.net",
    });
  };

  /** MSAL's instance discovery: the sandbox authority is its own, single alias. */
  instanceDiscovery: Handler = (req) => {
    const host = new URL(this.ctx.endpoints.entra).host;
    const authority = req.query.get("authorization_endpoint");
    const tenantPath = authority ? new URL(authority).pathname.split("/")[1] : this.tenantId;
    return json(200, {
      tenant_discovery_endpoint: `${this.ctx.endpoints.entra}/${tenantPath}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  };

  keys: Handler = () => json(200, this.ctx.tokens.jwks());

  /**
   * Client-credentials token issuance, v2 (`scope`) or v1 (`resource`) form, for an application with its secret or
   * for any principal with a federated client assertion (workload identity: a user-assigned identity's client id and
   * a token of an issuer one of its federated identity credentials trusts).
   */
  token = (version: "v1" | "v2"): Handler => async (req) => {
    const tenant = this.resolveTenant(req.params.tenant, false);
    if (!tenant) return this.errors.tenantNotFound(req.params.tenant);
    const form = new URLSearchParams(req.body.toString("utf8"));
    const basic = this.basicCredentials(req);
    const grantType = form.get("grant_type");
    if (!grantType) return this.errors.missingParameter("grant_type");
    if (grantType !== "client_credentials") return this.errors.unsupportedGrant(grantType);
    const clientId = form.get("client_id") ?? basic?.id;
    if (!clientId) return this.errors.missingParameter("client_id");
    const resource = this.requestedResource(version, form);
    if ("status" in resource) return resource;
    const assertion = form.get("client_assertion");
    const principal = assertion ? this.findPrincipal(clientId) : this.findApplication(clientId);
    if (!principal) return this.errors.applicationNotFound(clientId, tenant);
    if (assertion) {
      if (form.get("client_assertion_type") !== JWT_BEARER) return this.errors.unexpectedAssertionType();
      const refused = await checkFederatedAssertion(this.ctx, principal, assertion);
      if (refused) return refused;
    } else {
      const secret = form.get("client_secret") ?? basic?.secret;
      if (!secret) return this.errors.missingClientCredential();
      if (!principal.secret || !sameSecret(secret, principal.secret)) return this.errors.invalidSecret(clientId);
    }
    const issued = await this.ctx.tokens.mint(principal, resource.value, this.ctx.now());
    if (version === "v2") {
      return json(200, {
        token_type: "Bearer",
        expires_in: issued.expiresIn,
        ext_expires_in: issued.expiresIn,
        access_token: issued.accessToken,
      });
    }
    return json(200, {
      token_type: "Bearer",
      expires_in: String(issued.expiresIn),
      ext_expires_in: String(issued.expiresIn),
      expires_on: String(issued.expiresOn),
      not_before: String(issued.notBefore),
      resource: issued.resource,
      access_token: issued.accessToken,
    });
  };

  private requestedResource(version: "v1" | "v2", form: URLSearchParams): { value: string } | SandboxResponse {
    if (version === "v1") {
      const resource = form.get("resource");
      return resource ? { value: resource } : this.errors.missingParameter("resource");
    }
    const scope = form.get("scope");
    if (!scope) return this.errors.missingParameter("scope");
    const scopes = scope.split(" ").filter(Boolean);
    if (scopes.length !== 1 || !scopes[0].endsWith("/.default")) return this.errors.invalidScope(scope);
    return { value: scopes[0].slice(0, -"/.default".length) };
  }

  private findApplication(clientId: string): Principal | undefined {
    const principal = this.findPrincipal(clientId);
    return principal?.kind === "application" ? principal : undefined;
  }

  /** Applications and managed identities alike: both may present a federated assertion. */
  private findPrincipal(clientId: string): Principal | undefined {
    const id = clientId.toLowerCase();
    return Object.values(this.ctx.store.data.principals).find((p) => p.appId.toLowerCase() === id);
  }

  private basicCredentials(req: SandboxRequest): { id: string; secret: string } | undefined {
    const header = req.headers.authorization;
    if (!header?.startsWith("Basic ")) return undefined;
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
    const at = decoded.indexOf(":");
    if (at < 0) return undefined;
    return { id: decodeURIComponent(decoded.slice(0, at)), secret: decodeURIComponent(decoded.slice(at + 1)) };
  }

  handler(): Handler {
    const router = new Router()
      .add("GET", "/{tenant}/v2.0/.well-known/openid-configuration", this.openIdConfiguration("v2"))
      .add("GET", "/{tenant}/.well-known/openid-configuration", this.openIdConfiguration("v1"))
      .add("GET", "/common/discovery/instance", this.instanceDiscovery)
      .add("GET", "/{tenant}/discovery/instance", this.instanceDiscovery)
      .add("GET", "/{tenant}/discovery/v2.0/keys", this.keys)
      .add("GET", "/{tenant}/discovery/keys", this.keys)
      .add("POST", "/{tenant}/oauth2/v2.0/token", this.token("v2"))
      .add("POST", "/{tenant}/oauth2/token", this.token("v1"));
    return router.handler({ notFound: () => this.errors.notFound(), methodNotAllowed: () => this.errors.methodNotAllowed() });
  }
}
