import { randomUUID } from "node:crypto";
import { Router } from "../http/router.js";
import type { Handler, SandboxRequest, SandboxResponse } from "../http/types.js";
import { isSupportedVersion, isWellFormedVersion, API_VERSIONS, type ApiVersionRange } from "./api-versions.js";
import { ArmErrors } from "./arm-errors.js";
import { ArmCall, ArmFailure } from "./arm-call.js";
import { authenticate, isCaller } from "./arm-auth.js";
import type { CloudContext } from "./context.js";
import { AuthorizationHandlers } from "./handlers/authorization.js";
import { ComputeHandlers } from "./handlers/compute.js";
import { ContainerServiceHandlers } from "./handlers/containerservice.js";
import { FederatedCredentialHandlers } from "./handlers/federated-credentials.js";
import { MsiHandlers } from "./handlers/msi.js";
import { ResourceHandlers } from "./handlers/resources.js";

type ArmHandler = (call: ArmCall) => SandboxResponse | Promise<SandboxResponse>;

const SUB = "/subscriptions/{subscriptionId}";
const RG = `${SUB}/resourceGroups/{resourceGroupName}`;
const AUTHZ = "{scope*}/providers/Microsoft.Authorization";

/**
 * ARM: one route table (method + path template + api-version range -> handler), behind one ordered layer:
 * bearer token (arm-auth.ts), then route and api-version, then the handler, which asks the RBAC layer
 * (ArmCall.demand, rbac.ts) for its own action at its own scope before it reads or changes anything.
 */
export function armHandler(ctx: CloudContext): Handler {
  const resources = new ResourceHandlers();
  const msi = new MsiHandlers();
  const federated = new FederatedCredentialHandlers();
  const authz = new AuthorizationHandlers();
  const aks = new ContainerServiceHandlers();
  const compute = new ComputeHandlers();
  const router = new Router<{ versions: ApiVersionRange; handle: ArmHandler }>();
  const route = (method: string, template: string, versions: ApiVersionRange, handle: ArmHandler) => router.add(method, template, { versions, handle });
  const V = API_VERSIONS;

  route("GET", "/subscriptions", V.subscriptions, resources.listSubscriptions);
  route("GET", SUB, V.subscriptions, resources.getSubscription);
  route("GET", `${SUB}/resourcegroups`, V.resourceGroups, resources.listGroups);
  route("GET", RG, V.resourceGroups, resources.getGroup);
  route("HEAD", RG, V.resourceGroups, resources.checkGroup);
  route("PUT", RG, V.resourceGroups, resources.createOrUpdateGroup);
  route("PATCH", RG, V.resourceGroups, resources.updateGroup);
  route("DELETE", RG, V.resourceGroups, resources.deleteGroup);
  route("GET", `${SUB}/resources`, V.resourceGroups, resources.listResources);
  route("GET", `${RG}/resources`, V.resourceGroups, resources.listResources);

  const MSI = "providers/Microsoft.ManagedIdentity/userAssignedIdentities";
  route("GET", `${SUB}/${MSI}`, V.identities, msi.listBySubscription);
  route("GET", `${RG}/${MSI}`, V.identities, msi.listByResourceGroup);
  route("GET", `${RG}/${MSI}/{resourceName}`, V.identities, msi.get);
  route("PUT", `${RG}/${MSI}/{resourceName}`, V.identities, msi.createOrUpdate);
  route("PATCH", `${RG}/${MSI}/{resourceName}`, V.identities, msi.update);
  route("DELETE", `${RG}/${MSI}/{resourceName}`, V.identities, msi.delete);
  const FIC = `${RG}/${MSI}/{resourceName}/federatedIdentityCredentials`;
  route("GET", FIC, V.federatedCredentials, federated.list);
  route("GET", `${FIC}/{federatedIdentityCredentialResourceName}`, V.federatedCredentials, federated.get);
  route("PUT", `${FIC}/{federatedIdentityCredentialResourceName}`, V.federatedCredentials, federated.createOrUpdate);
  route("DELETE", `${FIC}/{federatedIdentityCredentialResourceName}`, V.federatedCredentials, federated.delete);

  route("GET", `${AUTHZ}/roleDefinitions`, V.roleDefinitions, authz.listDefinitions);
  route("GET", `${AUTHZ}/roleDefinitions/{roleDefinitionId}`, V.roleDefinitions, authz.getDefinition);
  route("PUT", `${AUTHZ}/roleDefinitions/{roleDefinitionId}`, V.roleDefinitions, authz.createOrUpdateDefinition);
  route("DELETE", `${AUTHZ}/roleDefinitions/{roleDefinitionId}`, V.roleDefinitions, authz.deleteDefinition);
  route("GET", `${AUTHZ}/roleAssignments`, V.roleAssignments, authz.listAssignments);
  route("GET", `${AUTHZ}/roleAssignments/{roleAssignmentName}`, V.roleAssignments, authz.getAssignment);
  route("PUT", `${AUTHZ}/roleAssignments/{roleAssignmentName}`, V.roleAssignments, authz.createAssignment);
  route("DELETE", `${AUTHZ}/roleAssignments/{roleAssignmentName}`, V.roleAssignments, authz.deleteAssignment);

  const AKS = "providers/Microsoft.ContainerService/managedClusters";
  route("GET", `${SUB}/${AKS}`, V.managedClusters, aks.list);
  route("GET", `${RG}/${AKS}`, V.managedClusters, aks.listByResourceGroup);
  route("GET", `${RG}/${AKS}/{resourceName}`, V.managedClusters, aks.get);
  route("PUT", `${RG}/${AKS}/{resourceName}`, V.managedClusters, aks.createOrUpdate);
  route("PATCH", `${RG}/${AKS}/{resourceName}`, V.managedClusters, aks.updateTags);

  const VMSS = "providers/Microsoft.Compute/virtualMachineScaleSets";
  route("GET", `${SUB}/${VMSS}`, V.scaleSets, compute.listAll);
  route("GET", `${RG}/${VMSS}`, V.scaleSets, compute.listByResourceGroup);
  route("GET", `${RG}/${VMSS}/{resourceName}`, V.scaleSets, compute.get);
  route("PUT", `${RG}/${VMSS}/{resourceName}`, V.scaleSets, compute.createOrUpdate);
  route("PATCH", `${RG}/${VMSS}/{resourceName}`, V.scaleSets, compute.update);
  route("GET", `${RG}/${VMSS}/{resourceName}/virtualMachines`, V.scaleSets, compute.listInstances);
  route("GET", `${RG}/${VMSS}/{resourceName}/virtualMachines/{instanceId}`, V.scaleSets, compute.getInstance);
  // Standalone VMs (AKS availability-set pools): none are seeded, but a group's list must answer as ARM does.
  route("GET", `${RG}/providers/Microsoft.Compute/virtualMachines`, V.scaleSets, compute.listVirtualMachines);

  return async (req: SandboxRequest): Promise<SandboxResponse> => withArmHeaders(req, await dispatch(req));

  async function dispatch(req: SandboxRequest): Promise<SandboxResponse> {
    const caller = await authenticate(ctx, req);
    if (!isCaller(caller)) return caller;
    const version = req.query.get("api-version");
    const found = router.match(req.method, req.path);
    if (!("handler" in found)) {
      if (found.methodNotAllowed) return ArmErrors.methodNotAllowed(req.method);
      return version ? unknownRoute(req.path, version) : ArmErrors.missingApiVersion();
    }
    if (!version) return ArmErrors.missingApiVersion();
    const versions = found.handler.versions;
    if (!isWellFormedVersion(version)) return ArmErrors.invalidApiVersionParameter(version, versions.known);
    if (!isSupportedVersion(versions, version)) return ArmErrors.invalidApiVersion(version, versions.type, versions.known);
    try {
      return await found.handler.handle(new ArmCall({ ...req, params: found.params }, ctx, caller.objectId));
    } catch (err) {
      if (err instanceof ArmFailure) return err.response;
      throw err;
    }
  }
}

/**
 * The headers every ARM response carries: request and correlation ids (the client's correlation id echoed, as
 * ARM does, so client logs line up), the remaining-quota counters and no caching.
 */
function withArmHeaders(req: SandboxRequest, res: SandboxResponse): SandboxResponse {
  const requestId = randomUUID();
  const correlation = req.headers["x-ms-correlation-request-id"];
  const write = req.method !== "GET" && req.method !== "HEAD";
  return {
    ...res,
    headers: {
      "cache-control": "no-cache",
      pragma: "no-cache",
      expires: "-1",
      "x-ms-request-id": requestId,
      "x-ms-correlation-request-id": typeof correlation === "string" ? correlation : requestId,
      "x-ms-routing-request-id": `EASTUS:${new Date().toISOString().replace(/[-:.]/g, "").slice(0, 15)}Z:${requestId}`,
      [write ? "x-ms-ratelimit-remaining-subscription-writes" : "x-ms-ratelimit-remaining-subscription-reads"]: write ? "1199" : "11999",
      ...res.headers,
    },
  };
}

/** Namespaces the sandbox serves; other providers answer as a namespace ARM does not know. */
const EMULATED_NAMESPACES = ["Microsoft.Resources", "Microsoft.ManagedIdentity", "Microsoft.Authorization", "Microsoft.ContainerService", "Microsoft.Compute"];

/** No route: the innermost `providers/{namespace}/{type}` of the path says which ARM error applies. */
function unknownRoute(path: string, version: string): SandboxResponse {
  const parts = path.split("/").filter(Boolean);
  const at = parts.map((p) => p.toLowerCase()).lastIndexOf("providers");
  if (at < 0 || at + 1 >= parts.length) return ArmErrors.noRegisteredProvider(path);
  const namespace = parts[at + 1];
  if (!EMULATED_NAMESPACES.some((n) => n.toLowerCase() === namespace.toLowerCase())) return ArmErrors.invalidResourceNamespace(namespace);
  const type = parts.slice(at + 2).filter((_, i) => i % 2 === 0).join("/");
  return type ? ArmErrors.invalidResourceType(namespace, type, version) : ArmErrors.noRegisteredProvider(path);
}
