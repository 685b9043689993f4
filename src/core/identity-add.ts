import { IdentityCode, NotFoundError } from "../errors/index.js";
import type { ClusterInfo } from "../azure/clusters.js";
import { CREATED_BY_TAG, CREATED_BY_VALUE, IdentityService, type UserAssignedIdentity } from "../azure/identities.js";
import { formatResourceId, parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { BUILTIN_ROLES, ROLE_GRANT_LIMIT_MS, RoleService, type ResolvedRole } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import type { KubeSession } from "../kube/session.js";
import { renderAzureIdentity, renderAzureIdentityBinding } from "../render/identity.js";
import { applyObjectStep } from "./apply-step.js";
import { clusterPreflight } from "./preflight.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

export const ASSIGN_ACTION = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action";
/** Descriptions of the role assignments podid makes, so `identity delete` finds exactly those. */
export const identityGrantDescription = (namespace: string, name: string) => `podid: identity ${namespace}/${name}`;
export const kubeletGrantDescription = (cluster: string, namespace: string, name: string) => `podid: kubelet of ${cluster} may assign identity ${namespace}/${name}`;
export const isKubeletGrantFor = (description: string, namespace: string, name: string) => description.startsWith("podid: kubelet of ") && description.endsWith(` may assign identity ${namespace}/${name}`);

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
  roleAssignments: Record<string, unknown>[];
  clusterObjects: Record<string, unknown>[];
  steps: StepReport[];
  dryRun: boolean;
}

/** Values not known until an earlier step has run, shown as placeholders in a dry-run plan. */
const pending = (what: string) => `<${what} of the new identity>`;

export function bindingNameFor(identityName: string): string {
  return `${identityName}-binding`;
}

function missingAdopted(id: string): NotFoundError {
  return new NotFoundError(IdentityCode.IdentityNotFound, `identity ${id} does not exist`, "Check --identity-resource-id, or omit it to let podid create the identity.");
}

/** Grants `role` at `scope` to a principal known only once an earlier step ran; "unchanged" if held here or above. */
function roleStep(roles: RoleService, role: ResolvedRole, scope: string, principal: () => string | undefined, description: string): Step {
  const detail = () => ({ role: role.roleName, scope, principalId: principal() ?? pending("principal id") });
  return {
    name: `role ${role.roleName} at ${scope}`,
    target: "azure",
    limitMs: ROLE_GRANT_LIMIT_MS,
    plan: async () => {
      const p = principal();
      return { action: p && (await roles.holds(p, role, scope)) ? "none" : "create", detail: detail() };
    },
    apply: async (progress) => {
      const p = principal()!;
      if (await roles.holds(p, role, scope)) return { outcome: "unchanged", detail: detail() };
      const { created } = await roles.assign({ scope, role, principalId: p, description }, progress);
      return { outcome: created ? "created" : "unchanged", detail: detail() };
    },
  };
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
  const expectedId = formatResourceId(adopted ?? { subscriptionId: azure.subscriptionId, resourceGroup: group, ...USER_ASSIGNED_IDENTITY_TYPE, name: azureName });
  // Everything that can be checked is checked before anything is made: the cluster, then unknown roles.
  await clusterPreflight(kube, input.namespace);
  const resolvedRoles: ResolvedRole[] = [];
  for (const role of input.roles) resolvedRoles.push(await roles.resolve(role));
  const scopes = input.scopes.length ? input.scopes : [azure.resourceGroupScope(group)];

  let identity: UserAssignedIdentity | undefined;
  const steps: Step[] = [
    {
      name: `identity ${azureName}`,
      target: "azure",
      plan: async () => {
        identity = await identities.get(group, azureName);
        if (!identity && adopted) throw missingAdopted(expectedId);
        return { action: identity ? "none" : "create", detail: { resourceId: expectedId } };
      },
      apply: async () => {
        identity = await identities.get(group, azureName);
        if (identity) return { outcome: "unchanged", detail: { resourceId: identity.id } };
        if (adopted) throw missingAdopted(expectedId);
        identity = await identities.create(group, azureName, input.location ?? input.cluster.location, { [CREATED_BY_TAG]: CREATED_BY_VALUE });
        return { outcome: "created", detail: { resourceId: identity.id } };
      },
    },
  ];
  const marker = identityGrantDescription(input.namespace, input.name);
  for (const role of resolvedRoles) {
    for (const scope of scopes) steps.push(roleStep(roles, role, scope, () => identity?.principalId, marker));
  }
  // podid runs MIC as the kubelet identity, so that identity must be allowed to assign this one to the nodes.
  const kubelet = input.cluster.kubelet;
  const operator = await roles.resolve(BUILTIN_ROLES.managedIdentityOperator);
  const operatorStep = roleStep(roles, operator, expectedId, () => kubelet.objectId, kubeletGrantDescription(input.cluster.name, input.namespace, input.name));
  steps.push({
    ...operatorStep,
    name: `kubelet identity may assign ${azureName} (Managed Identity Operator)`,
    // Any role at this or a wider scope that grants the assign action will do, custom roles included.
    plan: async () => ((await roles.isAllowed(kubelet.objectId, ASSIGN_ACTION, expectedId)) ? { action: "none", detail: { role: operator.roleName, scope: expectedId, principalId: kubelet.objectId } } : operatorStep.plan()),
    apply: async (progress) =>
      (await roles.isAllowed(kubelet.objectId, ASSIGN_ACTION, expectedId)) ? { outcome: "unchanged", detail: { role: operator.roleName, scope: expectedId, principalId: kubelet.objectId } } : operatorStep.apply(progress),
  });
  steps.push(
    applyObjectStep(kube, () =>
      renderAzureIdentity({ name: input.name, namespace: input.namespace, resourceId: identity?.id ?? expectedId, clientId: identity?.clientId ?? pending("client id") }),
    ),
  );
  if (input.bindingSelector) {
    const selector = input.bindingSelector;
    steps.push(
      applyObjectStep(kube, () =>
        renderAzureIdentityBinding({ name: input.bindingName ?? bindingNameFor(input.name), namespace: input.namespace, identityName: input.name, selector }),
      ),
    );
  }

  const reports = await runSteps(steps, options);
  const withState = (r: StepReport) => ({ ...r.detail, ...(r.outcome ? { outcome: r.outcome } : { action: r.action }) });
  return {
    identity: {
      name: azureName,
      clientId: identity?.clientId ?? pending("client id"),
      principalId: identity?.principalId ?? pending("principal id"),
      resourceId: identity?.id ?? expectedId,
      resourceGroup: group,
    },
    roleAssignments: reports.filter((r) => r.detail && "role" in r.detail).map(withState),
    clusterObjects: reports.filter((r) => r.target === "cluster").map((r) => {
      const { object, ...rest } = withState(r) as Record<string, unknown>;
      void object;
      return rest;
    }),
    steps: reports,
    dryRun: options.dryRun,
  };
}
