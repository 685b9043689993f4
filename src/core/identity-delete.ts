import { createdByPodid, IdentityService, type UserAssignedIdentity } from "../azure/identities.js";
import { formatResourceId, parseResourceId, sameResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { grantKey, grantOf, RoleService, type RoleGrant } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { bindingSpec, identitySpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, type AzureIdentity, type AzureIdentityBinding } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { aadPodIdentityServed, notInstalled } from "./preflight.js";
import { recordedInstallGrants } from "./install.js";
import { describeGrant, identityGrantDescription, nameRecordedRoles, readIdentityRecord, recordedGrantsFor, unionGrants } from "./record.js";
import { listAzure, orphanedAssignmentsFor, podidAssignmentsFor, traceInAzure, type AzureListing } from "./recovery.js";
import { deleteObjectStep, removeGrantStep } from "./apply-step.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

export interface DeleteInput {
  name: string;
  /** Where to look for the Azure identity when the AzureIdentity is already gone from the cluster. */
  resourceGroup?: string;
  keepAzureIdentity: boolean;
}

export interface DeleteResult {
  steps: StepReport[];
  /** What podid made that is kept, and why (another AzureIdentity uses it; podid did not create it). */
  kept: string[];
  /** Parts of the record that had to be ignored; assignments podid can no longer tell are its own. */
  warnings: string[];
  dryRun: boolean;
}

/** One AzureIdentity to delete, and what the cluster says about the others (which may share what it uses). */
export interface DeleteTarget {
  name: string;
  namespace: string;
  /** The AzureIdentity; undefined when it is already gone (or the CRDs are). */
  object?: AzureIdentity;
  resourceGroup?: string;
  keepAzureIdentity: boolean;
  /** False when the cluster does not serve the aadpodidentity kinds (after `podid uninstall`). */
  installed: boolean;
  /** Every other AzureIdentity that stays: a role assignment or an identity one of them records is kept. */
  others: AzureIdentity[];
  /** The bindings in the namespace (deleted with it when they name it). */
  bindings: AzureIdentityBinding[];
}

const ref = (o: { metadata: { name: string; namespace?: string } }) => `AzureIdentity ${o.metadata.namespace}/${o.metadata.name}`;

/**
 * The steps that remove what podid made for one AzureIdentity, from its record: its bindings, the role
 * assignments podid recorded (matched in Azure by principal, role and scope, and only when podid made them), the
 * Azure identity when podid created it, and the AzureIdentity. What another AzureIdentity still records is kept. Without
 * a record (the AzureIdentity is gone, or an older podid made it) the identity at its resource id (or -g) is the
 * anchor (found, without -g, as doctor finds it: traceInAzure): the assignments of its principal that podid
 * describes as made for this AzureIdentity, and the kubelet's grant on it. Each part may already be gone: "absent".
 */
export async function planIdentityDelete(
  target: DeleteTarget,
  kube: KubeSession,
  azure: AzureSession,
  listing?: AzureListing,
): Promise<{ steps: Step[]; kept: string[]; warnings: string[]; grants: RoleGrant[] }> {
  const { name, namespace, object } = target;
  const me = `AzureIdentity ${namespace}/${name}`;
  const identities = new IdentityService(azure);
  const roles = new RoleService(azure);
  const read = readIdentityRecord(object?.metadata.annotations);
  // Every role is named by Azure from its definition; an entry whose recorded name disagrees is not podid's.
  const { record, problems } = await nameRecordedRoles(read.record, (id) => roles.nameOf(id));
  const warnings = [...read.problems, ...problems].map((p) => `${me}: ${p}`);
  const kept: string[] = [];
  const fromGroup = target.resourceGroup ? formatResourceId({ subscriptionId: azure.subscriptionId, resourceGroup: target.resourceGroup, ...USER_ASSIGNED_IDENTITY_TYPE, name }) : undefined;
  const listed = listing ?? (await listAzure(azure));
  const all = listed.assignments;
  // Neither the AzureIdentity nor -g: Azure may still show the identity podid made for it (its role assignments).
  const traced = !object && !fromGroup ? (await traceInAzure(azure, namespace, name, listed)).identity?.id : undefined;
  if (traced) warnings.push(`${me} is gone; podid made ${traced} for it (its role assignments say so): removing what podid made there`);
  const resourceId = record.resourceId ?? (object ? identitySpec(object).resourceID || undefined : undefined) ?? fromGroup ?? traced;
  // What podid made for it that outlived its identity (the identity, or an earlier one, deleted by hand).
  const orphans = orphanedAssignmentsFor(all, namespace, name, listed.identities).map(grantOf);
  if (!object && !resourceId && !orphans.length) {
    if (!target.installed) throw notInstalled(kube, undefined, `To remove the Azure side podid made for it, pass -g GROUP (the Azure identity's resource group): podid identity delete -n ${name} --namespace ${namespace} -g GROUP`);
    // A delete run again after it finished: nothing is left, so nothing is done (the name may also be mistyped).
    warnings.push(`nothing of ${me} exists (deleted already, or another name: podid identity list); to clean up an Azure identity whose AzureIdentity is gone, pass -g GROUP`);
    return { steps: [], kept, warnings, grants: [] };
  }
  let parsed;
  try {
    parsed = resourceId ? parseResourceId(resourceId, USER_ASSIGNED_IDENTITY_TYPE) : undefined;
  } catch {
    warnings.push(`${me} names '${resourceId}', which is not a user-assigned identity's resource id: no Azure identity is deleted`);
  }
  const azureIdentity: UserAssignedIdentity | undefined = parsed ? await identities.get(parsed.resourceGroup, parsed.name) : undefined;

  // The record, as far as it is this identity's (its own principal's grants, the kubelet's on it; never the
  // kubelet's grants install recorded, never another principal's), and (for what an interrupted run made before it
  // could record it, or an older podid without records) the assignments of the identity's own principal that podid
  // described as made for this AzureIdentity, and those that outlived their principal.
  const mine = recordedGrantsFor(record, { resourceId: parsed ? formatResourceId(parsed) : undefined, principalId: azureIdentity?.principalId }, await recordedInstallGrants(kube));
  const found = podidAssignmentsFor(all, namespace, name, azureIdentity).map(grantOf);
  const grants = unionGrants(mine.own, mine.onIdentity, found, orphans);
  const taken = new Set(grants.map(grantKey));
  warnings.push(...mine.ignored.filter((i) => !taken.has(grantKey(i.grant))).map((i) => `${me}: ${i.why}`));
  const leftOver = all.filter((a) => a.description === identityGrantDescription(namespace, name) && !grants.some((g) => grantKey(g) === grantKey(grantOf(a))));
  if (leftOver.length) {
    warnings.push(
      `${leftOver.length} role assignment(s) say podid made them for ${me}, but their principal is not one podid recorded for it${azureIdentity ? "" : " (its identity is gone)"}, so podid leaves them: az role assignment delete --ids ${leftOver.map((a) => a.id).join(" ")}`,
    );
  }
  for (const g of grants) if (!g.role) g.role = await roles.nameOf(g.roleDefinitionId).catch(() => undefined);

  const steps: Step[] = [];
  const deleteObject = (kind: string, objectName: string) => deleteObjectStep(kube, { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind, metadata: { name: objectName, namespace } });
  // Bindings first (no pod is given the identity any more); the AzureIdentity, which holds the record, last: a run
  // cut short leaves the record for the re-run to finish from.
  if (target.installed) target.bindings.filter((b) => bindingSpec(b).azureIdentity === name).forEach((b) => steps.push(deleteObject("AzureIdentityBinding", b.metadata.name)));
  const othersRecords = target.others.map((o) => ({ o, record: readIdentityRecord(o.metadata.annotations).record }));
  for (const g of grants) {
    const sharer = othersRecords.find(({ record: r }) => r.roleAssignments.some((x) => grantKey(x) === grantKey(g)));
    const what = describeGrant(g);
    if (sharer) {
      kept.push(`${what}: ${ref(sharer.o)} records it too`);
      continue;
    }
    steps.push(removeGrantStep(roles, g, what));
  }
  if (parsed && azureIdentity && !target.keepAzureIdentity) {
    const users = target.others.filter((o) => sameResourceId(identitySpec(o).resourceID, azureIdentity.id) || sameResourceId(readIdentityRecord(o.metadata.annotations).record.resourceId, azureIdentity.id));
    // The created-by tag alone never suffices (anyone may point an AzureIdentity at any identity): the AzureIdentity's
    // own record must say podid created this one for it, or, with the AzureIdentity gone, Azure must show podid's
    // assignments made for it on this identity.
    const createdForIt = object ? record.createdByPodid === true && sameResourceId(record.resourceId, azureIdentity.id) : found.length > 0;
    const why = !createdByPodid(azureIdentity)
      ? "podid did not create it"
      : !createdForIt
        ? `${object ? `${me}'s record does not say podid created it for ${me}` : `no role assignment podid made for ${me} is on it`} (its created-by tag alone is not enough); if it is no longer used, remove it with: az identity delete --ids ${azureIdentity.id}`
        : record.principalId && record.principalId !== azureIdentity.principalId.toLowerCase()
          ? `it is not the identity podid recorded (principal ${record.principalId}): it was re-created since; run podid identity add to adopt it first`
          : users.length
            ? `${users.map(ref).join(", ")} use${users.length === 1 ? "s" : ""} it too`
            : undefined;
    if (why) {
      kept.push(`identity ${azureIdentity.id}: ${why}`);
    } else {
      steps.push({
        name: `identity ${parsed.name}`,
        target: "azure",
        plan: async () => ({ action: "delete" }),
        apply: async () => ({ outcome: (await identities.delete(parsed.resourceGroup, parsed.name)) ? "deleted" : "absent" }),
      });
    }
  }
  if (target.installed) steps.push(deleteObject("AzureIdentity", name));
  return { steps, kept, warnings, grants };
}

/** Every AzureIdentity in the cluster, to see what others share; those of the namespace when cluster-wide reads are refused. */
async function everyIdentity(kube: KubeSession, warnings: string[]): Promise<AzureIdentity[]> {
  try {
    return await kube.list<AzureIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity");
  } catch {
    warnings.push(`AzureIdentities in other namespaces cannot be listed: what they share with this one is not known, only namespace ${kube.namespace} was checked`);
    return kube.list<AzureIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", kube.namespace);
  }
}

/**
 * `podid identity delete`: removes what podid made for an identity (planIdentityDelete). Completes when parts are
 * already gone, and after `podid uninstall` (no CRDs) still removes the Azure side.
 */
export async function deleteIdentity(input: DeleteInput, kube: KubeSession, azure: AzureSession, options: { dryRun: boolean; progress: (m: string) => void }): Promise<DeleteResult> {
  const namespace = kube.namespace;
  const installed = await aadPodIdentityServed(kube, namespace);
  const warnings: string[] = [];
  const all = installed ? await everyIdentity(kube, warnings) : [];
  const object = all.find((o) => o.metadata.name === input.name && o.metadata.namespace === namespace);
  const bindings = installed ? await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", namespace) : [];
  const plan = await planIdentityDelete(
    { name: input.name, namespace, object, resourceGroup: input.resourceGroup, keepAzureIdentity: input.keepAzureIdentity, installed, others: all.filter((o) => o !== object), bindings },
    kube,
    azure,
  );
  return { steps: await runSteps(plan.steps, options), kept: plan.kept, warnings: [...warnings, ...plan.warnings], dryRun: options.dryRun };
}
