import { InstallCode, InstallError } from "../errors/index.js";
import { ClusterService } from "../azure/clusters.js";
import { grantKey, grantOf, roleGuidOf, RoleService, type RoleGrant } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { MANAGED_BY_LABEL, MANAGED_BY_PODID, MIC_DEPLOYMENT_NAME, REMOVE_REDIRECT_COMMANDS } from "../aadpodidentity/contract/names.js";
import { identitySpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, type AzureIdentity, type AzureIdentityBinding } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { renderInstall, type InstallValues } from "../render/install.js";
import { lookUpCluster } from "./cluster-lookup.js";
import { planIdentityDelete } from "./identity-delete.js";
import { listAzure } from "./recovery.js";
import { installRecord } from "./install.js";
import { aadPodIdentityServed } from "./preflight.js";
import { kubeletOf, nameRecordedRoles, readIdentityRecord, recordedGrantsFor, unionGrants } from "./record.js";
import { deleteObjectStep, removeGrantStep } from "./apply-step.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

export interface UninstallInput {
  values: InstallValues;
  /** Remove even while AzureIdentities exist (they go with the CRDs). */
  force: boolean;
  /** Delete podid's AzureIdentities first, with everything podid made for them (podid identity delete). */
  deleteIdentities: boolean;
  /** The AKS cluster as the user named it (default: found by the kubeconfig context's name). */
  cluster?: { name?: string; resourceGroup?: string };
}

export interface UninstallResult {
  /** The kubeconfig context it acts on. */
  context: string;
  /** Every removal, in order: identities podid made, the kubelet's grants, then the manifests (CRDs last). */
  removes: string[];
  /** What stays, and how to remove it. */
  leaves: string[];
  warnings: string[];
  steps: StepReport[];
  iptables: string;
  dryRun: boolean;
}

/**
 * The kubelet identity's assignments podid made for this cluster that no record lists (an install or identity add
 * cut short before it could record them; AzureIdentities deleted since): the kubelet's principal (the cluster found
 * by the kubeconfig context's name) and podid's description naming this cluster. Best effort: without the cluster,
 * none.
 */
async function unrecordedKubeletGrants(azure: AzureSession, kube: KubeSession, ref: { name?: string; resourceGroup?: string }): Promise<RoleGrant[]> {
  try {
    const cluster = await lookUpCluster(new ClusterService(azure), ref, { contextName: kube.config.getCurrentContext() });
    const mine = kubeletOf(cluster.name);
    return (await new RoleService(azure).ofPrincipal(cluster.kubelet.objectId)).filter((a) => (a.description ?? "").startsWith(mine) && a.roleDefinitionId && a.scope).map(grantOf);
  } catch {
    return [];
  }
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
const names = (items: { metadata: { name: string; namespace?: string } }[]) => `${items.slice(0, 3).map((i) => `${i.metadata.namespace}/${i.metadata.name}`).join(", ")}${items.length > 3 ? ", ..." : ""}`;

/**
 * `podid uninstall`, as a plan of steps: with --delete-identities, each podid AzureIdentity and what podid made for
 * it; the role assignments podid made for the kubelet identity (recorded on the MIC Deployment, and on the
 * AzureIdentities that go with the CRDs); the manifests in the reverse order of install, CRDs last (that deletes
 * every custom object). Without Azure access, the grants stay and are listed with what it leaves.
 */
export async function uninstall(
  input: UninstallInput,
  kube: KubeSession,
  azure: AzureSession | undefined,
  options: { dryRun: boolean; progress: (m: string) => void; confirm?: (context: string, removes: string[]) => Promise<void> },
): Promise<UninstallResult> {
  const { values } = input;
  const identities = (await aadPodIdentityServed(kube)) ? await kube.list<AzureIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity") : [];
  const deleting = input.deleteIdentities ? identities.filter((i) => i.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_PODID) : [];
  const withCrds = identities.filter((i) => !deleting.includes(i));
  const warnings: string[] = [];
  const leaves: string[] = [];
  if (withCrds.length && !input.force) {
    const remain = new InstallError(InstallCode.IdentitiesRemain, `${plural(withCrds.length, "AzureIdentity still exists", "AzureIdentities still exist")} (${names(withCrds)})`, {
      remedy: `Delete them first (podid identity delete -n NAME --namespace NS)${input.deleteIdentities ? "" : ", or pass --delete-identities to delete podid's with what podid made for them"}, or pass --force to remove them with the CRDs.`,
    });
    if (!options.dryRun) throw remain;
    warnings.push(`without --force, uninstall refuses: ${remain.message}`);
  }
  if (deleting.length && !azure) {
    throw new InstallError(InstallCode.IdentitiesRemain, "--delete-identities needs Azure: no subscription is known", { remedy: "Pass --subscription (or set AZURE_SUBSCRIPTION_ID), or leave out --delete-identities." });
  }

  const steps: Step[] = [];
  const deletedWithIdentities = new Set<string>();
  if (azure && deleting.length) {
    const bindings = await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding");
    // Planned before anything is removed: one listing of the subscription serves every identity's plan.
    const listing = await listAzure(azure);
    for (const object of deleting) {
      const namespace = object.metadata.namespace ?? "default";
      const plan = await planIdentityDelete(
        { name: object.metadata.name, namespace, object, keepAzureIdentity: false, installed: true, others: withCrds, bindings: bindings.filter((b) => b.metadata.namespace === namespace) },
        kube,
        azure,
        listing,
      );
      steps.push(...plan.steps);
      leaves.push(...plan.kept);
      warnings.push(...plan.warnings);
      plan.grants.forEach((g) => deletedWithIdentities.add(grantKey(g)));
    }
  }
  // The kubelet identity's grants: install's, and those made on the identities that go with the CRDs.
  const installGrants = await installRecord(kube, values.namespace);
  warnings.push(...installGrants.problems.map((p) => `Deployment ${values.namespace}/${MIC_DEPLOYMENT_NAME}: ${p}`));
  const installKeys = new Set(installGrants.grants.map(grantKey));
  const roleNames = azure ? new RoleService(azure) : undefined;
  const going = [];
  for (const o of withCrds) {
    const read = readIdentityRecord(o.metadata.annotations).record;
    // Named by Azure when it can be asked (what people read, and the rule: never the annotation's word).
    const record = roleNames ? (await nameRecordedRoles(read, (id) => roleNames.nameOf(id))).record : read;
    // Of what the record lists, only the kubelet's grant on the identity itself is removed here (the same rule as
    // identity delete): never another principal's grant, whatever the annotation says.
    const mine = recordedGrantsFor(record, { resourceId: record.resourceId ?? (identitySpec(o).resourceID || undefined) }, installGrants.grants);
    warnings.push(...mine.ignored.filter((i) => !installKeys.has(grantKey(i.grant))).map((i) => `AzureIdentity ${o.metadata.namespace}/${o.metadata.name}: ${i.why}`));
    going.push({ o, record, onIdentity: mine.onIdentity });
  }
  const kubeletGrants = unionGrants(
    azure ? (await unrecordedKubeletGrants(azure, kube, input.cluster ?? {})).filter((g) => !deletedWithIdentities.has(grantKey(g))) : [],
    installGrants.grants,
    ...going.map(({ onIdentity }) => onIdentity),
  );
  const describe = (g: RoleGrant) => `role assignment ${g.role ?? roleGuidOf(g.roleDefinitionId)} at ${g.scope} for the kubelet identity (principal ${g.principalId})`;
  if (roleNames) {
    const roles = roleNames;
    // The name comes from Azure, never from the record.
    for (const g of kubeletGrants) g.role = await roles.nameOf(g.roleDefinitionId).catch(() => undefined);
    for (const g of kubeletGrants) {
      steps.push(removeGrantStep(roles, g, describe(g)));
    }
  } else {
    leaves.push(...kubeletGrants.map((g) => `${describe(g)}: no Azure subscription is known; remove it with: az role assignment delete --assignee ${g.principalId} --role ${roleGuidOf(g.roleDefinitionId)} --scope ${g.scope}`));
  }
  // What the AzureIdentities that go with the CRDs leave in Azure: podid identity delete -g still removes it then.
  for (const { o, record } of going) {
    const id = record.resourceId ?? (identitySpec(o).resourceID || undefined);
    const group = /\/resourceGroups\/([^/]+)/i.exec(id ?? "")?.[1] ?? "GROUP";
    const own = record.roleAssignments.filter((g) => g.principalId === record.principalId).map((g) => `${g.role ?? "role"} at ${g.scope}`);
    const made = record.createdByPodid ? `identity ${id} (podid created it)` : `identity ${id}`;
    if (!record.createdByPodid && !own.length) continue;
    leaves.push(`${made}${own.length ? ` and its role assignments (${own.join(", ")})` : ""}, of AzureIdentity ${o.metadata.namespace}/${o.metadata.name}: remove with podid identity delete -n ${o.metadata.name} --namespace ${o.metadata.namespace} -g ${group} --yes`);
  }
  steps.push(...renderInstall(values).reverse().map((m) => deleteObjectStep(kube, m)));
  // Deleting a CRD deletes its objects: the AzureIdentities left go with it.
  const withTheCrds = withCrds.length ? [`${plural(withCrds.length, "AzureIdentity", "AzureIdentities")} with the CRDs (${names(withCrds)})`] : [];
  const planned = await runSteps(steps, { ...options, dryRun: true });
  const context = kube.config.getCurrentContext();
  const removes = [...planned.filter((r) => r.action !== "none").map((r) => r.step), ...withTheCrds];
  if (!options.dryRun) await options.confirm?.(context, removes);
  const reports = options.dryRun ? planned : await runSteps(steps, options);
  return {
    context,
    removes: options.dryRun ? removes : [...reports.filter((r) => r.outcome !== "absent").map((r) => r.step), ...withTheCrds],
    leaves,
    warnings,
    steps: reports,
    iptables:
      `NMI removes its iptables rules when it stops (SIGTERM) with its DaemonSet deleted. On a node where NMI was killed, or could not reach the API server as it stopped, run as root: ${REMOVE_REDIRECT_COMMANDS}`,
    dryRun: options.dryRun,
  };
}
