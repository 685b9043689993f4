import { errors as joseErrors } from "jose";
import { Router } from "../http/router.js";
import type { Handler, SandboxRequest, SandboxResponse } from "../http/types.js";
import { isSupportedVersion, API_VERSIONS, type ApiVersionRange } from "./api-versions.js";
import { ArmErrors } from "./arm-errors.js";
import { ArmCall, ArmFailure } from "./arm-call.js";
import { armAudiences, type CloudContext } from "./context.js";
import { AuthorizationHandlers } from "./handlers/authorization.js";
import { ComputeHandlers } from "./handlers/compute.js";
import { ContainerServiceHandlers } from "./handlers/containerservice.js";
import { MsiHandlers } from "./handlers/msi.js";
import { ResourceHandlers } from "./handlers/resources.js";

type ArmHandler = (call: ArmCall) => SandboxResponse;

const SUB = "/subscriptions/{subscriptionId}";
const RG = `${SUB}/resourceGroups/{resourceGroupName}`;
const AUTHZ = "{scope*}/providers/Microsoft.Authorization";

/**
 * ARM: one route table (method + path template + api-version range -> handler), behind one ordered layer:
 * bearer token (signature, issuer, audience, lifetime), then api-version, then the handler, which makes the
 * RBAC decision for its own action and scope.
 */
export function armHandler(ctx: CloudContext): Handler {
  const resources = new ResourceHandlers();
  const msi = new MsiHandlers();
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

  const MSI = "providers/Microsoft.ManagedIdentity/userAssignedIdentities";
  route("GET", `${SUB}/${MSI}`, V.identities, msi.listBySubscription);
  route("GET", `${RG}/${MSI}`, V.identities, msi.listByResourceGroup);
  route("GET", `${RG}/${MSI}/{resourceName}`, V.identities, msi.get);
  route("PUT", `${RG}/${MSI}/{resourceName}`, V.identities, msi.createOrUpdate);
  route("PATCH", `${RG}/${MSI}/{resourceName}`, V.identities, msi.update);
  route("DELETE", `${RG}/${MSI}/{resourceName}`, V.identities, msi.delete);

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

  const VMSS = "providers/Microsoft.Compute/virtualMachineScaleSets";
  route("GET", `${SUB}/${VMSS}`, V.scaleSets, compute.listAll);
  route("GET", `${RG}/${VMSS}`, V.scaleSets, compute.listByResourceGroup);
  route("GET", `${RG}/${VMSS}/{vmScaleSetName}`, V.scaleSets, compute.get);
  route("PUT", `${RG}/${VMSS}/{vmScaleSetName}`, V.scaleSets, compute.createOrUpdate);
  route("PATCH", `${RG}/${VMSS}/{vmScaleSetName}`, V.scaleSets, compute.update);
  route("GET", `${RG}/${VMSS}/{vmScaleSetName}/virtualMachines`, V.scaleSets, compute.listInstances);
  route("GET", `${RG}/${VMSS}/{vmScaleSetName}/virtualMachines/{instanceId}`, V.scaleSets, compute.getInstance);

  const authorizationUri = () => `${ctx.endpoints.entra}/${ctx.store.data.tenantId}`;

  return async (req: SandboxRequest): Promise<SandboxResponse> => {
    const header = req.headers.authorization;
    if (!header) return ArmErrors.missingAuthorization(authorizationUri());
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m) return ArmErrors.invalidToken(authorizationUri(), "The authentication scheme of Basic is not supported.");
    let caller: string;
    try {
      const verified = await ctx.tokens.verify(m[1], armAudiences(ctx.endpoints));
      caller = String(verified.payload.oid ?? "");
      if (!caller) return ArmErrors.invalidToken(authorizationUri(), "The token has no 'oid' claim.");
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return ArmErrors.expiredToken(authorizationUri());
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === "aud") {
        return ArmErrors.invalidToken(authorizationUri(), "The audience of the token is not valid for this resource.");
      }
      return ArmErrors.invalidToken(authorizationUri(), "");
    }
    const found = router.match(req.method, req.path);
    if (!("handler" in found)) {
      return found.methodNotAllowed ? ArmErrors.methodNotAllowed(req.method) : req.query.get("api-version") ? ArmErrors.noRegisteredProvider(req.path) : ArmErrors.missingApiVersion();
    }
    const version = req.query.get("api-version");
    if (!version) return ArmErrors.missingApiVersion();
    if (!isSupportedVersion(found.handler.versions, version)) return ArmErrors.invalidApiVersion(version, found.handler.versions.type, found.handler.versions.known);
    try {
      return found.handler.handle(new ArmCall({ ...req, params: found.params }, ctx, caller));
    } catch (err) {
      if (err instanceof ArmFailure) return err.response;
      throw err;
    }
  };
}
