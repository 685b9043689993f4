import { NotFoundError } from "../cli/errors.js";
import type { ClusterInfo } from "../azure/clusters.js";
import { CREATED_BY_TAG, CREATED_BY_VALUE, IdentityService, type UserAssignedIdentity } from "../azure/identities.js";
import { formatResourceId, parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { BUILTIN_ROLES, RoleService, type ResolvedRole } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import type { KubeSession } from "../kube/session.js";
import { renderAzureIdentity, renderAzureIdentityBinding } from "../render/identity.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

export const ASSIGN_ACTION = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action";
/** Marks role assignments podid made, in their description, so `identity delete` finds exactly those. */
export const ASSIGNMENT_MARKER = "podid:";

export interface IdentityAddInput {
  name: string;
  resourceGroup: string;
  location?: string;
  namespace: string;
  /** Adopt this existing identity instead of creating one. */
  identityResourceId?: string;
  /** Each role is granted at each scope; no scope means the identity's resource group. */
  roles: string[];
  scopes: string[];
  bindingSelector?: string;
  bindingName?: string;
  cluster: ClusterInfo;
}

export interface IdentityAddResult {
  identity: { name: string; clientId: string; principalId: string; resourceId: string; resourceGroup: string };
  roleAssignments: { role: string; scope: string; principalId: string; outcome?: string; action?: string }[];
  clusterObjects: { kind: string; namespace: string; name: string; outcome?: string; action?: string }[];
  steps: StepReport[];
  dryRun: boolean;
}

/** Values not known until an earlier step has run, shown as placeholders in a dry-run plan. */
const PENDING = (what: string) => `<${what} of the new identity>`;

export function bindingNameFor(identityName: string): string {
  return `${identityName}-binding`;
}

export async function identityAdd(
  input: IdentityAddInput,
  azure: AzureSession,
  kube: KubeSession,
  options: { dryRun: boolean; progress: (m: string) => void },
): Promise<IdentityAddResult> {
  const identities = new IdentityService(azure);
  const roles = new RoleService(azure);
  const adopted = input.identityResourceId ? parseResourceId(input.identityResourceId, USER_ASSIGNED_IDENTITY_TYPE) : undefined;
  const group = adopted?.resourceGroup ?? input.resourceGroup;
  const azureName = adopted?.name ?? input.name;
  const expectedId = formatResourceId(
    adopted ?? { subscriptionId: azure.subscriptionId, resourceGroup: group, ...USER_ASSIGNED_IDENTITY_TYPE, name: azureName },
  );
  // Validate everything that can be checked before anything is made: roles must exist.
  const resolvedRoles: ResolvedRole[] = [];
  for (const role of input.roles) resolvedRoles.push(await roles.resolve(role));
  const scopes = input.scopes.length ? input.scopes : [azure.resourceGroupScope(group)];

  let identity: UserAssignedIdentity | undefined;
  const current = () => identity;
  const principalId = () => current()?.principalId ?? PENDING("principal id");

  const steps: Step[] = [];
  steps.push({
    name: `identity ${azureName}`,
    target: "azure",
    plan: async () => {
      identity = await identities.get(group, azureName);
      if (!identity && adopted) throw missingAdopted(expectedId);
      return { action: identity ? "none" : "create", detail: { resourceId: expectedId } };
    },
    apply: async () => {
      identity = await identities.get(group, azureName);
      if (identity) return { outcome: "unchanged" };
      if (adopted) throw missingAdopted(expectedId);
      identity = await identities.create(group, azureName, input.location ?? input.cluster.location, { [CREATED_BY_TAG]: CREATED_BY_VALUE });
      return { outcome: "created" };
    },
  });

  const grants: IdentityAddResult["roleAssignments"] = [];
  for (const role of resolvedRoles) {
    for (const scope of scopes) {
      const entry: IdentityAddResult["roleAssignments"][number] = { role: role.roleName, scope, principalId: "" };
      grants.push(entry);
      steps.push(roleStep(roles, `role ${role.roleName} at ${scope}`, role, scope, () => current()?.principalId, `${ASSIGNMENT_MARKER} identity ${input.namespace}/${input.name}`, entry));
    }
  }

  const kubelet = input.cluster.kubelet;
  const operatorEntry = { role: "Managed Identity Operator", scope: expectedId, principalId: kubelet.objectId };
  grants.push(operatorEntry);
  steps.push({
    name: `kubelet identity may assign ${azureName} (Managed Identity Operator)`,
    target: "azure",
    plan: async () => {
      const ok = await roles.isAllowed(kubelet.objectId, ASSIGN_ACTION, expectedId);
      return { action: ok ? "none" : "create" };
    },
    apply: async (progress) => {
      if (await roles.isAllowed(kubelet.objectId, ASSIGN_ACTION, expectedId)) return { outcome: "unchanged" };
      const role = await roles.resolve(BUILTIN_ROLES.managedIdentityOperator);
      const { created } = await roles.assign(
        { scope: expectedId, role, principalId: kubelet.objectId, description: `${ASSIGNMENT_MARKER} kubelet of ${input.cluster.name} may assign identity ${input.namespace}/${input.name}` },
        progress,
      );
      return { outcome: created ? "created" : "unchanged" };
    },
  });

  const objects: IdentityAddResult["clusterObjects"] = [];
  const azureIdentityObject = () =>
    renderAzureIdentity({
      name: input.name,
      namespace: input.namespace,
      resourceId: current()?.id ?? expectedId,
      clientId: current()?.clientId ?? PENDING("client id"),
    });
  steps.push(applyStep(kube, azureIdentityObject, objects));
  if (input.bindingSelector) {
    const selector = input.bindingSelector;
    steps.push(
      applyStep(
        kube,
        () => renderAzureIdentityBinding({ name: input.bindingName ?? bindingNameFor(input.name), namespace: input.namespace, identityName: input.name, selector }),
        objects,
      ),
    );
  }

  const reports = await runSteps(steps, options);
  reports.forEach((r) => {
    const grant = grants.find((g) => r.step.startsWith(`role ${g.role} at ${g.scope}`));
    if (grant) Object.assign(grant, r.outcome ? { outcome: r.outcome } : { action: r.action }, { principalId: principalId() });
  });
  Object.assign(operatorEntry, reports.find((r) => r.step.startsWith("kubelet identity"))?.outcome ? { outcome: reports.find((r) => r.step.startsWith("kubelet identity"))!.outcome } : {});
  return {
    identity: {
      name: azureName,
      clientId: current()?.clientId ?? PENDING("client id"),
      principalId: principalId(),
      resourceId: current()?.id ?? expectedId,
      resourceGroup: group,
    },
    roleAssignments: grants,
    clusterObjects: objects,
    steps: reports,
    dryRun: options.dryRun,
  };
}

function missingAdopted(id: string): NotFoundError {
  return new NotFoundError("IdentityNotFound", `identity ${id} does not exist`, "Check --identity-resource-id, or omit it to let podid create the identity.");
}

function roleStep(
  roles: RoleService,
  name: string,
  role: ResolvedRole,
  scope: string,
  principal: () => string | undefined,
  description: string,
  entry: { principalId: string },
): Step {
  return {
    name,
    target: "azure",
    plan: async () => {
      const p = principal();
      const held = p ? await roles.holds(p, role, scope) : undefined;
      return { action: held ? "none" : "create" };
    },
    apply: async (progress) => {
      const p = principal()!;
      entry.principalId = p;
      if (await roles.holds(p, role, scope)) return { outcome: "unchanged" };
      const { created } = await roles.assign({ scope, role, principalId: p, description }, progress);
      return { outcome: created ? "created" : "unchanged" };
    },
  };
}

function applyStep(
  kube: KubeSession,
  render: () => { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
  objects: { kind: string; namespace: string; name: string; outcome?: string; action?: string }[],
): Step {
  const first = render();
  const entry = { kind: first.kind, namespace: first.metadata.namespace ?? "", name: first.metadata.name };
  objects.push(entry);
  return {
    name: `${first.kind} ${entry.namespace}/${entry.name}`,
    target: "cluster",
    plan: async () => {
      const existing = await kube.read(first);
      const action = existing ? "update" : "create";
      Object.assign(entry, { action });
      return { action, detail: { object: render() } };
    },
    apply: async () => {
      const { result } = await kube.apply(render());
      Object.assign(entry, { outcome: result });
      return { outcome: result };
    },
  };
}
