import type { JWK } from "jose";
import { Router } from "../../http/router.js";
import { json, type Handler, type SandboxRequest, type SandboxResponse } from "../../http/types.js";
import { jwksUrlOf, oidcDiscovery } from "../../oidc.js";
import type { CloudContext } from "../context.js";
import type { ArmResource } from "../model.js";
import { key } from "../scopes.js";
import { clusterOfIssuer } from "./containerservice.js";

/** What the issuer host answers for a path that is not a published document (a storage blob that does not exist). */
function notFound(): SandboxResponse {
  return { status: 404, headers: { "content-type": "text/plain; charset=utf-8" }, body: "The specified blob does not exist." };
}

/**
 * AKS's OIDC issuer host (`https://<region>.oic.prod-aks.azure.com/<tenant>/<guid>/`): for each cluster whose issuer
 * is enabled, the discovery document and the JWKS of the cluster's service-account signing key, public and
 * unauthenticated, as Entra ID and anyone else fetch them. The keys are what the cluster's API server published.
 */
export class OidcIssuerHandlers {
  /** Published signing keys, by lower-cased cluster id. */
  private readonly keys = new Map<string, JWK[]>();

  constructor(private readonly ctx: CloudContext) {}

  publish(clusterId: string, keys: JWK[]): void {
    this.keys.set(key(clusterId), keys);
  }

  private cluster(req: SandboxRequest): { cluster: ArmResource; issuer: string } | undefined {
    const issuer = `${this.ctx.endpoints.oidcIssuer}/${req.params.tenant}/${req.params.guid}/`;
    const cluster = clusterOfIssuer(this.ctx.store.data, issuer);
    return cluster ? { cluster, issuer } : undefined;
  }

  discovery: Handler = (req) => {
    const found = this.cluster(req);
    return found ? json(200, oidcDiscovery(found.issuer, jwksUrlOf(found.issuer))) : notFound();
  };

  jwks: Handler = (req) => {
    const found = this.cluster(req);
    return found ? json(200, { keys: this.keys.get(key(found.cluster.id)) ?? [] }) : notFound();
  };

  handler(): Handler {
    return new Router()
      .add("GET", "/{tenant}/{guid}/.well-known/openid-configuration", this.discovery)
      .add("GET", "/{tenant}/{guid}/openid/v1/jwks", this.jwks)
      .handler({ notFound, methodNotAllowed: () => ({ status: 405, headers: { "content-type": "text/plain; charset=utf-8" }, body: "Method Not Allowed" }) });
  }
}
