import { json, type Handler, type SandboxRequest, type SandboxResponse } from "../../http/types.js";
import type { CloudContext } from "../context.js";
import type { Principal, SeedNode } from "../model.js";
import { findResourceIn, key } from "../scopes.js";
import type { ScaleSetIdentity } from "./compute.js";
import { scaleSetNameOf } from "../seed.js";

const API_VERSION = /^\d{4}-\d{2}-\d{2}$/;

function imdsError(status: number, error: string, description: string): SandboxResponse {
  return json(status, { error, error_description: description });
}

const IMDS_VERSIONS = ["2017-03-01", "2018-02-01", "2019-08-01", "2020-09-01", "2021-02-01", "2021-12-13", "2023-07-01"];

/**
 * The path as a permissive HTTP server resolves it before routing: percent-decoded (%2F and %5C included),
 * backslashes as slashes, repeated slashes collapsed, dot segments resolved, case ignored (IMDS matches
 * "/metadata" in any case), no trailing slash. Whatever reaches this IMDS in any of these spellings is answered:
 * so a token request that NMI let through in a disguise would get its token here, as from a real server.
 */
export function imdsPath(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    /* a malformed escape stays as sent */
  }
  const segments: string[] = [];
  for (const segment of decoded.replace(/\\/g, "/").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return "/" + segments.join("/").toLowerCase();
}

/** The scale set a node's VM belongs to: its id without `/virtualMachines/<n>`. */
export function scaleSetIdOf(node: SeedNode): string {
  return node.vmId.replace(/\/virtualMachines\/[^/]+$/i, "");
}

/**
 * The Instance Metadata Service of one node (a scale-set instance): tokens only for the identities attached to
 * its scale set, and its compute metadata. Which node a request is for comes from the port it arrived on.
 */
export class ImdsHandlers {
  constructor(
    private readonly ctx: CloudContext,
    private readonly nodeForPort: (port: number) => SeedNode | undefined,
  ) {}

  private metadataHeader(req: SandboxRequest): boolean {
    return String(req.headers["metadata"] ?? "").toLowerCase() === "true";
  }

  token: Handler = async (req) => {
    const node = this.nodeForPort(req.localPort);
    if (!node) return imdsError(404, "not_found", "No such instance");
    if (!this.metadataHeader(req)) return imdsError(400, "invalid_request", "Required metadata header not specified");
    const apiVersion = req.query.get("api-version");
    if (!apiVersion) return imdsError(400, "invalid_request", "Required query variable 'api-version' is missing");
    if (!API_VERSION.test(apiVersion)) return imdsError(400, "invalid_request", `Invalid api-version '${apiVersion}'`);
    const resource = req.query.get("resource");
    if (!resource) return imdsError(400, "invalid_request", "Required query variable 'resource' is missing");
    const selectors = { clientId: req.query.get("client_id"), objectId: req.query.get("object_id"), resourceId: req.query.get("msi_res_id") ?? req.query.get("mi_res_id") };
    if (Object.values(selectors).filter(Boolean).length > 1) return imdsError(400, "invalid_request", "Only one of client_id, object_id or msi_res_id can be specified");
    const chosen = this.choose(node, selectors);
    if ("error" in chosen) return chosen.error;
    const issued = await this.ctx.tokens.mint(chosen.principal, resource, this.ctx.now());
    return json(200, {
      access_token: issued.accessToken,
      client_id: chosen.principal.appId,
      expires_in: String(issued.expiresIn),
      expires_on: String(issued.expiresOn),
      ext_expires_in: String(issued.expiresIn),
      not_before: String(issued.notBefore),
      resource,
      token_type: "Bearer",
    });
  };

  private choose(node: SeedNode, selectors: { clientId: string | null; objectId: string | null; resourceId: string | null }): { principal: Principal } | { error: SandboxResponse } {
    const state = this.ctx.store.data;
    const vmss = findResourceIn(state, scaleSetIdOf(node));
    const identity = vmss?.identity as ScaleSetIdentity | undefined;
    const attached = Object.entries(identity?.userAssignedIdentities ?? {}).map(([id, v]) => ({ id, ...v }));
    const system = identity?.type?.includes("SystemAssigned") && identity.principalId ? state.principals[identity.principalId] : undefined;
    const notFound = { error: imdsError(400, "invalid_request", "Identity not found") };
    let principalId: string | undefined;
    if (selectors.clientId) principalId = attached.find((a) => a.clientId.toLowerCase() === selectors.clientId!.toLowerCase())?.principalId;
    else if (selectors.objectId) principalId = attached.find((a) => a.principalId.toLowerCase() === selectors.objectId!.toLowerCase())?.principalId ?? (system && system.objectId === selectors.objectId!.toLowerCase() ? system.objectId : undefined);
    else if (selectors.resourceId) principalId = attached.find((a) => key(a.id) === key(selectors.resourceId!))?.principalId;
    else if (system) principalId = system.objectId;
    else if (attached.length === 1) principalId = attached[0].principalId;
    else if (attached.length > 1) {
      return { error: imdsError(400, "invalid_request", "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request") };
    }
    // An identity deleted in Azure but still listed on the scale set has no principal any more.
    const principal = principalId ? state.principals[principalId.toLowerCase()] ?? state.principals[principalId] : undefined;
    return principal ? { principal } : notFound;
  }

  instance: Handler = (req) => {
    const node = this.nodeForPort(req.localPort);
    if (!node) return imdsError(404, "not_found", "No such instance");
    if (!this.metadataHeader(req)) return json(400, { error: "Bad request. Required metadata header not specified" });
    const apiVersion = req.query.get("api-version");
    if (!apiVersion || !API_VERSION.test(apiVersion)) {
      return json(400, { error: "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds", "newest-versions": IMDS_VERSIONS.slice(-3).reverse() });
    }
    const seed = this.ctx.store.data.seed;
    const vmssId = scaleSetIdOf(node);
    return json(200, {
      compute: {
        azEnvironment: "AzurePublicCloud",
        location: seed.location,
        name: `${scaleSetNameOf(node)}_${node.instanceId}`,
        osType: "Linux",
        provider: "Microsoft.Compute",
        resourceGroupName: seed.nodeResourceGroup,
        resourceId: node.vmId,
        subscriptionId: seed.subscriptionId,
        vmId: node.vmUuid,
        vmScaleSetName: scaleSetNameOf(node),
        vmSize: "Standard_DS2_v2",
        zone: "",
        tagsList: [{ name: "aks-managed-poolName", value: "nodepool1" }],
        osProfile: { computerName: node.name, adminUsername: "azureuser", disablePasswordAuthentication: "true" },
        scaleSet: vmssId,
      },
      network: {
        interface: [{ ipv4: { ipAddress: [{ privateIpAddress: node.internalIP, publicIpAddress: "" }], subnet: [{ address: node.internalIP.replace(/\.\d+\.\d+$/, ".0.0"), prefix: "16" }] }, ipv6: { ipAddress: [] }, macAddress: "000D3A000000" }],
      },
    });
  };

  handler(): Handler {
    return (req) => {
      const path = imdsPath(req.path);
      const known = path === "/metadata/identity/oauth2/token" || path === "/metadata/instance" || path.startsWith("/metadata/instance/");
      if (!known) return json(404, { error: "Not found" });
      // IMDS serves GET only (learn.microsoft.com, "Azure Instance Metadata Service", HTTP verbs).
      if (req.method !== "GET") return imdsError(405, "invalid_request", `Http method not allowed: path = "${path}", method = "${req.method}"`);
      const repeated = [...req.query.keys()].find((k, i, all) => all.indexOf(k) !== i);
      if (repeated) return imdsError(400, "invalid_request", `Query parameter '${repeated}' is specified more than once`);
      // Requests that went through a proxy are refused (IMDS: "Must not contain an X-Forwarded-For header").
      if (req.headers["x-forwarded-for"] !== undefined) return imdsError(400, "invalid_request", "Requests with an X-Forwarded-For header are not accepted");
      return path === "/metadata/identity/oauth2/token" ? this.token(req) : this.instance(req);
    };
  }
}
