import { IdentityCode, NotFoundError, UsageCode, UsageError } from "../errors/index.js";
import type { ClusterInfo } from "../azure/clusters.js";
import { CREATED_BY_TAG, CREATED_BY_VALUE, createdByPodid, IdentityService, type UserAssignedIdentity } from "../azure/identities.js";
import { formatResourceId, parseResourceId, sameResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { BUILTIN_ROLES, grantKey, ROLE_GRANT_LIMIT_MS, RoleService, type ResolvedRole, type RoleGrant } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { MANAGED_BY_LABEL, MANAGED_BY_PODID } from "../aadpodidentity/contract/names.js";
import { bindingSpec, identitySpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, type AzureIdentity, type AzureIdentityBinding } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { bindingNameFor, renderAzureIdentity, renderAzureIdentityBinding } from "../render/identity.js";
import { applyObjectStep } from "./apply-step.js";
import { guardRepoint, readBinding } from "./bind.js";
import { clusterPreflight } from "./preflight.js";
import { identityGrantDescription, identityRecordAnnotations, kubeletGrantDescription, nameRecordedRoles, readIdentityRecord, roleKey, unionGrants, unionRoles, withBinding, type IdentityRecord, type RoleAtScope } from "./record.js";
import { traceInAzure } from "./recovery.js";
import { identityAddCommand } from "./repair-commands.js";
import { runSteps, type Step, type StepReport } from "./steps.js";
import { shellWord } from "../util/shell.js";

export const ASSIGN_ACTION = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action";

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
  /** What the record on the AzureIdentity held that had to be ignored (edited by hand). */
  warnings: string[];
  dryRun: boolean;
}

/** Values not known until an earlier step has run, shown as placeholders in a dry-run plan. */
const pending = (what: string) => `<${what} of the new identity>`;


function missingAdopted(id: string): NotFoundError {
  return new NotFoundError(IdentityCode.IdentityNotFound, `identity ${id} does not exist`, "Check --identity-resource-id, or omit it to let podid create the identity.");
}

/**
 * Grants `role` at `scope` to a principal known only once an earlier step ran; "unchanged" if held here or above.
 * Whenever the assignment that is this grant is podid's own (made now or by an earlier run), it is reported to
 * `record`, so that the record lists exactly what podid made.
 */
function roleStep(roles: RoleService, role: ResolvedRole, scope: string, principal: () => string | undefined, description: string, record: (g: RoleGrant) => void): Step {
  const detail = () => ({ role: role.roleName, scope, principalId: principal() ?? pending("principal id") });
  const grant = (): RoleGrant => ({ principalId: principal()!.toLowerCase(), roleDefinitionId: role.id, scope, role: role.roleName });
  const noteIfPodids = async () => {
    if (await roles.podidsAssignment(grant())) record(grant());
  };
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
      if (await roles.holds(p, role, scope)) {
        await noteIfPodids();
        return { outcome: "unchanged", detail: detail() };
      }
      const { created } = await roles.assign({ scope, role, principalId: p, description }, progress);
      await noteIfPodids();
      return { outcome: created ? "created" : "unchanged", detail: detail() };
    },
  };
}

/**
 * The AzureIdentity already uses another Azure identity that still exists: pointing it elsewhere would leave that
 * one, its roles and the pods using it behind.
 */
async function refuseMove(identities: IdentityService, input: IdentityAddInput, existing: AzureIdentity | undefined, previous: IdentityRecord, expectedId: string): Promise<void> {
  const current = previous.resourceId ?? (existing ? identitySpec(existing).resourceID || undefined : undefined);
  if (!existing || !current || sameResourceId(current, expectedId)) return;
  let id;
  try {
    id = parseResourceId(current, USER_ASSIGNED_IDENTITY_TYPE);
  } catch {
    return;
  }
  if (!(await identities.get(id.resourceGroup, id.name))) return;
  throw new UsageError(
    `AzureIdentity ${input.namespace}/${input.name} uses identity ${current}, which still exists; this would point it at ${expectedId} instead and leave that one behind`,
    `To repair it, run: ${identityAddCommand({ name: input.name, namespace: input.namespace, resourceId: current, roles: [] })}. To move it, delete it first: podid identity delete -n ${input.name} --namespace ${input.namespace}.`,
    UsageCode.WouldRepoint,
  );
}

/**
 * The AzureIdentity is gone, but Azure shows the identity podid made for it (by its role assignments): a new one
 * beside it would be a second identity for the same pods.
 */
async function refuseSecondIdentity(input: IdentityAddInput, expectedId: string, azure: AzureSession): Promise<void> {
  const trace = await traceInAzure(azure, input.namespace, input.name);
  if (!trace.identity || sameResourceId(trace.identity.id, expectedId)) return;
  throw new UsageError(
    `podid already made or adopted identity ${trace.identity.id} for AzureIdentity ${input.namespace}/${input.name} (its role assignments say so); this would create a second one, ${expectedId}`,
    `To re-create the AzureIdentity from it, run: ${identityAddCommand({ name: input.name, namespace: input.namespace, resourceId: trace.identity.id, roles: trace.roles, cluster: input.cluster })}. To start over, remove it first: podid identity delete -n ${input.name} --namespace ${input.namespace} -g ${trace.identity.resourceGroup}.`,
    UsageCode.WouldRepoint,
  );
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
  const existing = await kube.read<AzureIdentity>({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name: input.name, namespace: input.namespace } });
  const read = readIdentityRecord(existing?.metadata.annotations);
  const { record: previous, problems } = await nameRecordedRoles(read.record, (id) => roles.nameOf(id));
  const warnings = [...read.problems, ...problems].map((p) => `AzureIdentity ${input.namespace}/${input.name}: ${p}`);
  const asked: { role: ResolvedRole; scope: string }[] = [];
  const scopes = input.scopes.length ? input.scopes : [azure.resourceGroupScope(group)];
  for (const role of input.roles) {
    const resolved = await roles.resolve(role);
    for (const scope of scopes) asked.push({ role: resolved, scope });
  }
  // Only the roles on the command line are granted: the record (which anyone who may edit the AzureIdentity can
  // edit) never grants anything by itself. It keeps the roles earlier runs asked for, so doctor's fixes print them.
  const askedRoles: RoleAtScope[] = asked.map((a) => ({ role: a.role.roleName, roleDefinitionId: a.role.id, scope: a.scope }));
  const notAsked = previous.roles.filter((r) => !askedRoles.some((a) => roleKey(a) === roleKey(r)));
  // Bindings podid applied for it that the record does not list (the AzureIdentity was deleted and is re-created).
  const podidBindings = (await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", input.namespace, `${MANAGED_BY_LABEL}=${MANAGED_BY_PODID}`))
    .map((b) => ({ name: b.metadata.name, ...bindingSpec(b) }))
    .filter((b) => b.azureIdentity === input.name && b.selector)
    .map(({ name, selector }) => ({ name, selector }));
  if (input.bindingSelector) {
    const bindingName = input.bindingName ?? bindingNameFor(input.name);
    await guardRepoint(kube, await readBinding(kube, bindingName, input.namespace), { name: bindingName, namespace: input.namespace, identityName: input.name, selector: input.bindingSelector }, false, `Re-point it with podid bind --selector ${input.bindingSelector} --identity ${input.name} --namespace ${input.namespace} --force, or bind the selector under a name of its own (the same command with --name NAME instead of --force)`);
  }

  await refuseMove(identities, input, existing, previous, expectedId);

  let identity: UserAssignedIdentity | undefined;
  let createdNow = false;
  const made: RoleGrant[] = [];
  const removed = new Set<string>();
  const record = (g: RoleGrant) => made.push(g);
  const steps: Step[] = [
    {
      name: `identity ${azureName}`,
      target: "azure",
      plan: async () => {
        identity = await identities.get(group, azureName);
        if (!identity && adopted) throw missingAdopted(expectedId);
        if (!identity && !existing) await refuseSecondIdentity(input, expectedId, azure);
        return { action: identity ? "none" : "create", detail: { resourceId: expectedId } };
      },
      apply: async () => {
        identity = await identities.get(group, azureName);
        if (identity) return { outcome: "unchanged", detail: { resourceId: identity.id } };
        if (adopted) throw missingAdopted(expectedId);
        if (!existing) await refuseSecondIdentity(input, expectedId, azure);
        identity = await identities.create(group, azureName, input.location ?? input.cluster.location, { [CREATED_BY_TAG]: CREATED_BY_VALUE });
        createdNow = true;
        return { outcome: "created", detail: { resourceId: identity.id } };
      },
    },
  ];
  // The identity was deleted and re-created (a new principal), or the AzureIdentity moves off one that is gone:
  // the assignments podid made for the old one are dead weight, and podid's to remove.
  // (refuseMove has made sure a previous resource id is gone; a principal named in the record must be gone too: the
  // record can be edited by hand, and another identity's assignments are not this one's to remove.)
  const replaced = (g: RoleGrant) =>
    Boolean(identity) &&
    ((previous.principalId !== undefined && previous.principalId !== identity!.principalId.toLowerCase() && g.principalId === previous.principalId) ||
      (previous.resourceId !== undefined && !sameResourceId(previous.resourceId, identity!.id) && sameResourceId(g.scope, previous.resourceId)));
  const stillExists = async (principalId: string) => (await identities.listAll()).some((i) => i.principalId.toLowerCase() === principalId);
  if (previous.roleAssignments.length && (previous.principalId || previous.resourceId)) {
    steps.push({
      name: `role assignments podid made for the identity AzureIdentity ${input.namespace}/${input.name} used before`,
      target: "azure",
      plan: async () => ({ action: !identity || previous.roleAssignments.some(replaced) ? "delete" : "none" }),
      apply: async () => {
        let stale = previous.roleAssignments.filter(replaced);
        if (stale.some((g) => g.principalId === previous.principalId) && (await stillExists(previous.principalId!))) {
          warnings.push(`AzureIdentity ${input.namespace}/${input.name} records principal ${previous.principalId}, which another identity still has: its role assignments are left as they are`);
          stale = stale.filter((g) => g.principalId !== previous.principalId);
        }
        let deleted = 0;
        for (const g of stale) {
          if ((await roles.removeGrant(g)) === "deleted") deleted++;
          removed.add(grantKey(g));
        }
        return { outcome: !stale.length ? "unchanged" : deleted ? "deleted" : "absent", detail: { roleAssignments: stale.map(({ role, scope, principalId }) => ({ role, scope, principalId })) } };
      },
    });
  }
  const marker = identityGrantDescription(input.namespace, input.name);
  for (const w of asked) steps.push(roleStep(roles, w.role, w.scope, () => identity?.principalId, marker, record));
  // podid runs MIC as the kubelet identity, so that identity must be allowed to assign this one to the nodes.
  const kubelet = input.cluster.kubelet;
  const operator = await roles.resolve(BUILTIN_ROLES.managedIdentityOperator);
  const operatorStep = roleStep(roles, operator, expectedId, () => kubelet.objectId, kubeletGrantDescription(input.cluster.name, input.namespace, input.name), record);
  const operatorDetail = { role: operator.roleName, scope: expectedId, principalId: kubelet.objectId };
  const kubeletGrant: RoleGrant = { principalId: kubelet.objectId.toLowerCase(), roleDefinitionId: operator.id, scope: expectedId, role: operator.roleName };
  steps.push({
    ...operatorStep,
    name: `kubelet identity may assign ${azureName} (Managed Identity Operator)`,
    // Any role at this or a wider scope that grants the assign action will do, custom roles included.
    plan: async () => ((await roles.isAllowed(kubelet.objectId, ASSIGN_ACTION, expectedId)) ? { action: "none", detail: operatorDetail } : operatorStep.plan()),
    apply: async (progress) => {
      if (!(await roles.isAllowed(kubelet.objectId, ASSIGN_ACTION, expectedId))) return operatorStep.apply(progress);
      if (await roles.podidsAssignment(kubeletGrant)) record(kubeletGrant);
      return { outcome: "unchanged", detail: operatorDetail };
    },
  });
  const recordNow = (): IdentityRecord => ({
    resourceId: identity?.id ?? expectedId,
    principalId: identity?.principalId.toLowerCase() ?? previous.principalId,
    createdByPodid: createdNow || (identity ? createdByPodid(identity) : previous.createdByPodid),
    roles: unionRoles(previous.roles, askedRoles),
    bindings: withBinding([...(previous.bindings ?? []), ...podidBindings], input.bindingSelector ? { name: input.bindingName ?? bindingNameFor(input.name), selector: input.bindingSelector } : undefined),
    roleAssignments: unionGrants(
      previous.roleAssignments.filter((g) => !removed.has(grantKey(g))),
      made,
    ),
  });
  steps.push(
    applyObjectStep(kube, () =>
      renderAzureIdentity({
        name: input.name,
        namespace: input.namespace,
        resourceId: identity?.id ?? expectedId,
        clientId: identity?.clientId ?? pending("client id"),
        annotations: identityRecordAnnotations(recordNow()),
      }),
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
  // Recorded roles this run did not grant, and the identity does not hold: say how to grant them.
  for (const r of identity && !options.dryRun ? notAsked : []) {
    const role = await roles.resolve(r.roleDefinitionId).catch(() => undefined);
    if (role && (await roles.holds(identity!.principalId, role, r.scope))) continue;
    warnings.push(`AzureIdentity ${input.namespace}/${input.name} records role ${r.role} at ${r.scope}, which the identity does not hold: podid grants only the roles given on the command line; add --role ${shellWord(r.role)} --scope ${r.scope} to grant it`);
  }
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
    warnings,
    dryRun: options.dryRun,
  };
}
