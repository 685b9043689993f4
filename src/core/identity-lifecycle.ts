import { IdentityCode, NotFoundError } from "../errors/index.js";
import { IdentityService } from "../azure/identities.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { RoleService } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { MANAGED_BY_LABEL, MANAGED_BY_PODID } from "../aadpodidentity/contract/names.js";
import { bindingSpec, identitySpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, IdentityType, type AzureIdentity, type AzureIdentityBinding } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { listAadPodIdentity } from "./preflight.js";

export interface IdentityView {
  name: string;
  namespace: string;
  type: number;
  clientId: string;
  resourceId: string;
  /** ok, missing (deleted in Azure), clientIdMismatch (deleted and re-created), invalidResourceId, unknown (no access). */
  azureState: string;
  /** Why the state is unknown when Azure was asked and did not answer (the error's first line). */
  azureStateReason?: string;
  principalId?: string;
  bindings: { name: string; selector: string }[];
}


async function azureState(identities: IdentityService | undefined, object: AzureIdentity): Promise<{ azureState: string; azureStateReason?: string; principalId?: string }> {
  const { type, resourceID: rid, clientID } = identitySpec(object);
  if (type !== IdentityType.userAssignedMSI) return { azureState: "servicePrincipal" };
  let parsed;
  try {
    parsed = parseResourceId(rid, USER_ASSIGNED_IDENTITY_TYPE);
  } catch {
    return { azureState: "invalidResourceId" };
  }
  if (!identities) return { azureState: "unknown" };
  try {
    const found = await identities.get(parsed.resourceGroup, parsed.name);
    if (!found) return { azureState: "missing" };
    if (found.clientId.toLowerCase() !== clientID.toLowerCase()) return { azureState: "clientIdMismatch", principalId: found.principalId };
    return { azureState: "ok", principalId: found.principalId };
  } catch (err) {
    return { azureState: "unknown", azureStateReason: (err as Error).message.split("\n")[0] };
  }
}

function view(object: AzureIdentity, bindings: AzureIdentityBinding[], state: { azureState: string; azureStateReason?: string; principalId?: string }): IdentityView {
  const spec = identitySpec(object);
  return {
    name: object.metadata.name,
    namespace: object.metadata.namespace ?? "",
    type: spec.type,
    clientId: spec.clientID,
    resourceId: spec.resourceID,
    ...state,
    bindings: bindings
      .filter((b) => b.metadata.namespace === object.metadata.namespace && bindingSpec(b).azureIdentity === object.metadata.name)
      .map((b) => ({ name: b.metadata.name, selector: bindingSpec(b).selector })),
  };
}

/** The AzureIdentities podid manages, joined with their Azure state. Azure is optional: without it, "unknown". */
export async function listIdentities(kube: KubeSession, azure: AzureSession | undefined, namespace?: string): Promise<IdentityView[]> {
  const [objects, bindings] = await Promise.all([
    listAadPodIdentity<AzureIdentity>(kube, "AzureIdentity", namespace, `${MANAGED_BY_LABEL}=${MANAGED_BY_PODID}`),
    kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", namespace),
  ]);
  const identities = azure ? new IdentityService(azure) : undefined;
  return Promise.all(objects.map(async (o) => view(o, bindings, await azureState(identities, o))));
}

export async function showIdentity(kube: KubeSession, azure: AzureSession | undefined, name: string): Promise<IdentityView & { roleAssignments?: { role: string; scope: string }[] }> {
  const [[object], bindings] = await Promise.all([
    listAadPodIdentity<AzureIdentity>(kube, "AzureIdentity", kube.namespace).then((all) => all.filter((o) => o.metadata.name === name)),
    kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", kube.namespace),
  ]);
  if (!object) {
    throw new NotFoundError(IdentityCode.AzureIdentityNotFound, `AzureIdentity '${name}' does not exist in namespace '${kube.namespace}'`, "List them with: podid identity list");
  }
  const state = await azureState(azure ? new IdentityService(azure) : undefined, object);
  const result: IdentityView & { roleAssignments?: { role: string; scope: string }[] } = view(object, bindings, state);
  if (azure && state.principalId) {
    const roles = new RoleService(azure);
    const assignments = await roles.ofPrincipal(state.principalId);
    result.roleAssignments = await Promise.all(assignments.map(async (a) => ({ role: (await roles.resolve(a.roleDefinitionId!)).roleName, scope: a.scope! })));
  }
  return result;
}
