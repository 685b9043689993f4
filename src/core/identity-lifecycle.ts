import { IdentityCode, NotFoundError } from "../errors/index.js";
import { createdByPodid, IdentityService } from "../azure/identities.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { RoleService } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { MANAGED_BY_LABEL, MANAGED_BY_PODID } from "../aadpodidentity/contract/names.js";
import { bindingSpec, identitySpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, IdentityType, type AzureIdentity, type AzureIdentityBinding } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { identityGrantDescription, isKubeletGrantFor } from "./identity-add.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

export interface IdentityView {
  name: string;
  namespace: string;
  type: number;
  clientId: string;
  resourceId: string;
  /** ok, missing (deleted in Azure), clientIdMismatch (deleted and re-created), invalidResourceId, unknown (no access). */
  azureState: string;
  principalId?: string;
  bindings: { name: string; selector: string }[];
}

const header = (name: string, namespace: string) => ({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name, namespace } });

async function azureState(identities: IdentityService | undefined, object: AzureIdentity): Promise<{ azureState: string; principalId?: string }> {
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
  } catch {
    return { azureState: "unknown" };
  }
}

function view(object: AzureIdentity, bindings: AzureIdentityBinding[], state: { azureState: string; principalId?: string }): IdentityView {
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
    kube.list<AzureIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", namespace, `${MANAGED_BY_LABEL}=${MANAGED_BY_PODID}`),
    kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", namespace),
  ]);
  const identities = azure ? new IdentityService(azure) : undefined;
  return Promise.all(objects.map(async (o) => view(o, bindings, await azureState(identities, o))));
}

export async function showIdentity(kube: KubeSession, azure: AzureSession | undefined, name: string): Promise<IdentityView & { roleAssignments?: { role: string; scope: string }[] }> {
  const [object, bindings] = await Promise.all([
    kube.read<AzureIdentity>(header(name, kube.namespace)),
    kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", kube.namespace),
  ]);
  if (!object) {
    throw new NotFoundError(IdentityCode.AzureIdentityNotFound, `AzureIdentity '${name}' does not exist in namespace '${kube.namespace}'`, "List them with: podid identity list");
  }
  const state = await azureState(azure ? new IdentityService(azure) : undefined, object);
  const result: IdentityView & { roleAssignments?: { role: string; scope: string }[] } = view(object, bindings, state);
  if (azure && state.principalId) {
    const roles = new RoleService(azure);
    const assignments = await roles.madeByPodid(() => true, state.principalId);
    result.roleAssignments = await Promise.all(assignments.map(async (a) => ({ role: (await roles.resolve(a.roleDefinitionId!)).roleName, scope: a.scope! })));
  }
  return result;
}

export interface DeleteInput {
  name: string;
  /** Where to look for the Azure identity when the AzureIdentity is already gone from the cluster. */
  resourceGroup?: string;
  keepAzureIdentity: boolean;
}

/**
 * Removes what podid made for an identity: bindings, the AzureIdentity, the role assignments it recorded, and
 * the Azure identity if podid created it. Each part may already be gone (deleted by hand): that is "absent".
 */
export async function deleteIdentity(input: DeleteInput, kube: KubeSession, azure: AzureSession, options: { dryRun: boolean; progress: (m: string) => void }): Promise<{ steps: StepReport[]; dryRun: boolean }> {
  const object = await kube.read<AzureIdentity>(header(input.name, kube.namespace));
  const resourceId = (object ? identitySpec(object).resourceID || undefined : undefined) ?? (input.resourceGroup ? `/subscriptions/${azure.subscriptionId}/resourceGroups/${input.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${input.name}` : undefined);
  if (!object && !resourceId) {
    throw new NotFoundError(IdentityCode.AzureIdentityNotFound, `AzureIdentity '${input.name}' does not exist in namespace '${kube.namespace}'`, "Pass -g GROUP to clean up the Azure side of an identity whose AzureIdentity is already gone.");
  }
  const identities = new IdentityService(azure);
  const roles = new RoleService(azure);
  const parsed = resourceId ? parseResourceId(resourceId, USER_ASSIGNED_IDENTITY_TYPE) : undefined;
  const azureIdentity = parsed ? await identities.get(parsed.resourceGroup, parsed.name) : undefined;
  const marker = identityGrantDescription(kube.namespace, input.name);
  const bindings = (await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", kube.namespace)).filter((b) => b.spec?.azureIdentity === input.name);

  const steps: Step[] = [];
  const deleteObject = (kind: string, name: string): Step => {
    const h = { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind, metadata: { name, namespace: kube.namespace } };
    return {
      name: `${kind} ${kube.namespace}/${name}`,
      target: "cluster",
      plan: async () => ({ action: (await kube.read(h)) ? "delete" : "none" }),
      apply: async () => ({ outcome: (await kube.delete(h)) ? "deleted" : "absent" }),
    };
  };
  bindings.forEach((b) => steps.push(deleteObject("AzureIdentityBinding", b.metadata.name)));
  steps.push(deleteObject("AzureIdentity", input.name));
  // By description, not by principal: when the identity was deleted by hand its principal id is unknown, but
  // the grants podid made for it are still there and still podid's to remove.
  const assignments = await roles.madeByPodid((d) => d === marker || isKubeletGrantFor(d, kube.namespace, input.name));
  for (const a of assignments) {
    steps.push({
      name: `role assignment ${a.name} at ${a.scope}`,
      target: "azure",
      plan: async () => ({ action: "delete" }),
      apply: async () => ({ outcome: (await roles.remove(a.scope!, a.name!)) ? "deleted" : "absent" }),
    });
  }
  if (parsed && azureIdentity && createdByPodid(azureIdentity) && !input.keepAzureIdentity) {
    steps.push({
      name: `identity ${parsed.name}`,
      target: "azure",
      plan: async () => ({ action: "delete" }),
      apply: async () => ({ outcome: (await identities.delete(parsed.resourceGroup, parsed.name)) ? "deleted" : "absent" }),
    });
  }
  return { steps: await runSteps(steps, options), dryRun: options.dryRun };
}
