import { setTimeout as sleep } from "node:timers/promises";
import type { V1Node } from "@kubernetes/client-node";
import { ArmCode, AzureError, InstallCode, InstallError, PodidError } from "../errors/index.js";
import { ClusterService, type ClusterInfo } from "../azure/clusters.js";
import { BUILTIN_ROLES, grantKey, PODID_DESCRIPTION_PREFIX, RoleService, type RoleGrant } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { AAD_POD_IDENTITY_API_VERSION, MANAGED_BY_LABEL, MIC_DEPLOYMENT_NAME, type AzureIdentity, type AzureIdentityBinding } from "../kube/aadpodidentity.js";
import type { KubeSession } from "../kube/session.js";
import { DEFAULT_RUNTIME_IMAGE, renderInstall, type InstallValues } from "../render/install.js";
import { applyObjectStep } from "./apply-step.js";
import { ASSIGN_ACTION } from "./identity-add.js";
import { planIdentityDelete } from "./identity-lifecycle.js";
import { aadPodIdentityServed } from "./preflight.js";
import { lookUpCluster } from "./cluster-lookup.js";
import { grantsAnnotation, readGrantsRecord, readIdentityRecord, unionGrants } from "./record.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

export const SCALE_SET_WRITE = "Microsoft.Compute/virtualMachineScaleSets/write";

export interface InstallInput {
  values: InstallValues;
  /** Known when Azure is used: its network plugin is checked and its kubelet identity granted roles. */
  cluster?: ClusterInfo;
  /** Resource groups where the pods' identities will live: the kubelet identity may assign identities there. */
  identityResourceGroups: string[];
  skipRoleAssignments: boolean;
  wait: boolean;
  timeoutSeconds: number;
}

/** On kubenet, pods can ARP-spoof each other's IPs and NMI trusts the source IP (CVE-2021-1677). */
export function checkNetworkPlugin(cluster: ClusterInfo, allowKubenet: boolean): string | undefined {
  if (cluster.networkPlugin.toLowerCase() !== "kubenet") return undefined;
  const risk = "on kubenet a pod with NET_RAW can spoof another pod's IP and take its identity (CVE-2021-1677); drop NET_RAW from workloads (e.g. a Gatekeeper capabilities policy)";
  if (!allowKubenet) {
    throw new InstallError(InstallCode.KubenetNotAllowed, `cluster ${cluster.name} uses the kubenet network plugin: ${risk}`, {
      remedy: "If you accept that and have mitigated it, run again with --kubenet.",
    });
  }
  return `installing on kubenet: ${risk}`;
}

/**
 * A role the kubelet identity needs at a scope, unless some role it holds there or above already allows `action`.
 * The assignment podid made (now or before) is reported to `record`, which install keeps on the MIC Deployment.
 */
function kubeletGrant(roles: RoleService, cluster: ClusterInfo, roleId: string, action: string, scope: string, record: (g: RoleGrant) => void): Step {
  const kubelet = cluster.kubelet.objectId;
  const describe = async () => ({ role: (await roles.resolve(roleId)).roleName, scope, principalId: kubelet });
  const noteIfPodids = async () => {
    const role = await roles.resolve(roleId);
    const grant: RoleGrant = { principalId: kubelet.toLowerCase(), roleDefinitionId: role.id, scope, role: role.roleName };
    if (await roles.podidsAssignment(grant)) record(grant);
  };
  return {
    name: `kubelet identity: ${action.includes("assign") ? "Managed Identity Operator" : "Virtual Machine Contributor"} on ${scope}`,
    target: "azure",
    plan: async () => ({ action: (await roles.isAllowed(kubelet, action, scope)) ? "none" : "create", detail: await describe() }),
    apply: async (progress) => {
      if (await roles.isAllowed(kubelet, action, scope)) {
        await noteIfPodids();
        return { outcome: "unchanged", detail: await describe() };
      }
      const role = await roles.resolve(roleId);
      try {
        const { created } = await roles.assign({ scope, role, principalId: kubelet, description: `${PODID_DESCRIPTION_PREFIX}kubelet of ${cluster.name} runs MIC` }, progress);
        await noteIfPodids();
        return { outcome: created ? "created" : "unchanged", detail: await describe() };
      } catch (err) {
        if (!(err instanceof PodidError) || err.code !== ArmCode.AuthorizationFailed) throw err;
        // Who may not grant roles can still have someone who may do this one grant, then install without it.
        const grant = `az role assignment create --assignee-object-id ${kubelet} --assignee-principal-type ServicePrincipal --role "${role.roleName}" --scope ${scope}`;
        throw new AzureError(err.code, err.message, { cause: err, details: err.details, remedy: `${err.remedy ?? ""}\nOr have an Owner grant the kubelet identity its role: ${grant}; then run podid install --skip-role-assignments.`.trim() });
      }
    },
  };
}

export interface RolloutState {
  component: string;
  kind: string;
  name: string;
  desired: number;
  ready: number;
}

async function rolloutStates(kube: KubeSession, namespace: string): Promise<RolloutState[]> {
  const mic = await kube.read<{ status?: { readyReplicas?: number }; spec?: { replicas?: number } } & { apiVersion: string; kind: string }>({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: MIC_DEPLOYMENT_NAME, namespace } });
  const nmi = await kube.read<{ status?: { numberReady?: number; desiredNumberScheduled?: number } } & { apiVersion: string; kind: string }>({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "podid-nmi", namespace } });
  return [
    { component: "mic", kind: "Deployment", name: MIC_DEPLOYMENT_NAME, desired: mic?.spec?.replicas ?? 0, ready: mic?.status?.readyReplicas ?? 0 },
    { component: "nmi", kind: "DaemonSet", name: "podid-nmi", desired: nmi?.status?.desiredNumberScheduled ?? 0, ready: nmi?.status?.numberReady ?? 0 },
  ];
}

/** Polls the MIC Deployment and NMI DaemonSet until all their pods are ready, bounded, with progress. */
export async function waitForRollout(kube: KubeSession, namespace: string, timeoutSeconds: number, progress: (m: string) => void): Promise<RolloutState[]> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const states = await rolloutStates(kube, namespace);
    const done = states.every((s) => s.desired > 0 && s.ready >= s.desired);
    progress(states.map((s) => `${s.component} ${s.ready}/${s.desired} ready`).join(", "));
    if (done) return states;
    if (Date.now() > deadline) {
      throw new InstallError(InstallCode.RolloutTimeout, `MIC and NMI were not ready within ${timeoutSeconds}s (${states.map((s) => `${s.component} ${s.ready}/${s.desired}`).join(", ")})`, {
        remedy: `Look at the pods: kubectl get pods -n ${namespace} -l app.kubernetes.io/name=podid; then podid doctor. Re-running podid install is safe.`,
      });
    }
    await sleep(1000);
  }
}

type Manifest = ReturnType<typeof renderInstall>[number];
const micHeader = (namespace: string) => ({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: MIC_DEPLOYMENT_NAME, namespace } });
const isMic = (m: Manifest) => m.kind === "Deployment" && m.metadata.name === MIC_DEPLOYMENT_NAME;

/** The kubelet identity's assignments podid install made, as recorded on the MIC Deployment (empty when there is none). */
async function installRecord(kube: KubeSession, namespace: string): Promise<{ grants: RoleGrant[]; problems: string[] }> {
  const mic = await kube.read<{ apiVersion: string; kind: string; metadata?: { annotations?: Record<string, string> } }>(micHeader(namespace));
  return readGrantsRecord(mic?.metadata?.annotations);
}

/**
 * The default runtime image is not in any registry yet: a cluster whose nodes do not already hold it cannot pull
 * it. Nodes report the images they hold (status.images), so the check is what a kubelet would find.
 */
async function imageWarning(kube: KubeSession, values: InstallValues): Promise<string | undefined> {
  if (values.runtime !== "podid" || values.image !== DEFAULT_RUNTIME_IMAGE) return undefined;
  const image = `${values.image}:${values.imageTag}`;
  const nodes = await kube.list<V1Node>("v1", "Node").catch(() => undefined);
  if (!nodes || nodes.some((n) => (n.status?.images ?? []).some((i) => (i.names ?? []).includes(image)))) return undefined;
  return `the runtime image ${image} is not published to a registry yet and no node has it: MIC and NMI will not start until you build and push it (see "On a real AKS cluster" in the README: docker build / az acr build) and pass --image <registry>/podid-runtime, or install the upstream images with --runtime upstream`;
}

export async function install(input: InstallInput, azure: AzureSession | undefined, kube: KubeSession, options: { dryRun: boolean; progress: (m: string) => void }): Promise<{ warnings: string[]; steps: StepReport[]; rollout?: RolloutState[]; dryRun: boolean }> {
  const warnings: string[] = [];
  const cluster = input.cluster;
  const kubenet = cluster ? checkNetworkPlugin(cluster, input.values.allowKubenet) : undefined;
  if (kubenet) warnings.push(kubenet);
  if (!cluster) warnings.push("the cluster was not looked up in Azure (--skip-role-assignments): its network plugin was not checked");
  const image = await imageWarning(kube, input.values);
  if (image) warnings.push(image);
  const previous = await installRecord(kube, input.values.namespace);
  warnings.push(...previous.problems.map((p) => `Deployment ${input.values.namespace}/${MIC_DEPLOYMENT_NAME}: ${p}`));
  const made: RoleGrant[] = [];
  const steps: Step[] = [];
  if (!input.skipRoleAssignments && azure && cluster) {
    const roles = new RoleService(azure);
    const record = (g: RoleGrant) => made.push(g);
    steps.push(kubeletGrant(roles, cluster, BUILTIN_ROLES.virtualMachineContributor, SCALE_SET_WRITE, azure.resourceGroupScope(cluster.nodeResourceGroup), record));
    for (const group of input.identityResourceGroups) steps.push(kubeletGrant(roles, cluster, BUILTIN_ROLES.managedIdentityOperator, ASSIGN_ACTION, azure.resourceGroupScope(group), record));
  }
  // The MIC Deployment carries the record of the kubelet's grants podid made, so uninstall removes exactly those.
  const withRecord = (m: Manifest): Manifest =>
    isMic(m) ? { ...m, metadata: { ...m.metadata, annotations: { ...(m.metadata.annotations as Record<string, string> | undefined), ...grantsAnnotation(unionGrants(previous.grants, made)) } } } : m;
  for (const manifest of renderInstall(input.values)) steps.push(applyObjectStep(kube, () => withRecord(manifest)));
  const reports = await runSteps(steps, options);
  const rollout = !options.dryRun && input.wait ? await waitForRollout(kube, input.values.namespace, input.timeoutSeconds, options.progress) : undefined;
  return { warnings, steps: reports, ...(rollout ? { rollout } : {}), dryRun: options.dryRun };
}

export interface UninstallInput {
  values: InstallValues;
  /** Remove even while AzureIdentities exist (they go with the CRDs). */
  force: boolean;
  /** Delete podid's AzureIdentities first, with everything podid made for them (podid identity delete). */
  deleteIdentities: boolean;
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
async function unrecordedKubeletGrants(azure: AzureSession, kube: KubeSession): Promise<RoleGrant[]> {
  try {
    const cluster = await lookUpCluster(new ClusterService(azure), {}, { contextName: kube.config.getCurrentContext() });
    const mine = `${PODID_DESCRIPTION_PREFIX}kubelet of ${cluster.name} `;
    return (await new RoleService(azure).ofPrincipal(cluster.kubelet.objectId))
      .filter((a) => (a.description ?? "").startsWith(mine) && a.roleDefinitionId && a.scope)
      .map((a) => ({ principalId: a.principalId!.toLowerCase(), roleDefinitionId: a.roleDefinitionId!, scope: a.scope! }));
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
  const deleting = input.deleteIdentities ? identities.filter((i) => i.metadata.labels?.[MANAGED_BY_LABEL] === "podid") : [];
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
  if (azure && deleting.length) {
    const bindings = await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding");
    for (const object of deleting) {
      const namespace = object.metadata.namespace ?? "default";
      const plan = await planIdentityDelete(
        { name: object.metadata.name, namespace, object, keepAzureIdentity: false, installed: true, others: withCrds, bindings: bindings.filter((b) => b.metadata.namespace === namespace) },
        kube,
        azure,
      );
      steps.push(...plan.steps);
      leaves.push(...plan.kept);
      warnings.push(...plan.warnings);
    }
  }
  // The kubelet identity's grants: install's, and those made on the identities that go with the CRDs.
  const installGrants = await installRecord(kube, values.namespace);
  warnings.push(...installGrants.problems.map((p) => `Deployment ${values.namespace}/${MIC_DEPLOYMENT_NAME}: ${p}`));
  const going = withCrds.map((o) => ({ o, record: readIdentityRecord(o.metadata.annotations).record }));
  const deletedWithIdentities = new Set(deleting.flatMap((o) => readIdentityRecord(o.metadata.annotations).record.roleAssignments.map(grantKey)));
  const kubeletGrants = unionGrants(
    azure ? (await unrecordedKubeletGrants(azure, kube)).filter((g) => !deletedWithIdentities.has(grantKey(g))) : [],
    installGrants.grants,
    ...going.map(({ record }) => record.roleAssignments.filter((g) => g.principalId !== record.principalId)),
  );
  const describe = (g: RoleGrant) => `role assignment ${g.role ?? g.roleDefinitionId.split("/").pop()} at ${g.scope} for the kubelet identity (principal ${g.principalId})`;
  if (azure) {
    const roles = new RoleService(azure);
    for (const g of kubeletGrants) if (!g.role) g.role = await roles.resolve(g.roleDefinitionId).then((r) => r.roleName, () => undefined);
    for (const g of kubeletGrants) {
      steps.push({
        name: describe(g),
        target: "azure",
        plan: async () => ({ action: (await roles.podidsAssignment(g)) ? "delete" : "none" }),
        apply: async () => ({ outcome: await roles.removeGrant(g) }),
      });
    }
  } else {
    leaves.push(...kubeletGrants.map((g) => `${describe(g)}: no Azure subscription is known; remove it with: az role assignment delete --assignee ${g.principalId} --role ${g.roleDefinitionId.split("/").pop()} --scope ${g.scope}`));
  }
  // What the AzureIdentities that go with the CRDs leave in Azure: podid identity delete -g still removes it then.
  for (const { o, record } of going) {
    const id = record.resourceId ?? o.spec?.resourceID;
    const group = /\/resourceGroups\/([^/]+)/i.exec(id ?? "")?.[1] ?? "GROUP";
    const own = record.roleAssignments.filter((g) => g.principalId === record.principalId).map((g) => `${g.role ?? "role"} at ${g.scope}`);
    const made = record.createdByPodid ? `identity ${id} (podid created it)` : `identity ${id}`;
    if (!record.createdByPodid && !own.length) continue;
    leaves.push(`${made}${own.length ? ` and its role assignments (${own.join(", ")})` : ""}, of AzureIdentity ${o.metadata.namespace}/${o.metadata.name}: remove with podid identity delete -n ${o.metadata.name} --namespace ${o.metadata.namespace} -g ${group} --yes`);
  }
  const manifests: Step[] = renderInstall(values)
    .reverse()
    .map((m) => ({
      name: `${m.kind} ${m.metadata.namespace ? m.metadata.namespace + "/" : ""}${m.metadata.name}`,
      target: "cluster" as const,
      plan: async () => ({ action: (await kube.read(m)) ? ("delete" as const) : ("none" as const) }),
      apply: async () => ({ outcome: (await kube.delete(m)) ? ("deleted" as const) : ("absent" as const) }),
    }));
  steps.push(...manifests);
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
      "NMI removes its iptables rules when it stops (SIGTERM). On a node where NMI was killed, run as root: iptables -t nat -D PREROUTING -j aad-metadata; iptables -t nat -F aad-metadata; iptables -t nat -X aad-metadata",
    dryRun: options.dryRun,
  };
}
