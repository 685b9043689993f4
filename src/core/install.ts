import { setTimeout as sleep } from "node:timers/promises";
import type { V1Node } from "@kubernetes/client-node";
import { ArmCode, AzureError, InstallCode, InstallError, PodidError } from "../errors/index.js";
import type { ClusterInfo } from "../azure/clusters.js";
import { BUILTIN_ROLES, ROLE_GRANT_LIMIT_MS, RoleService, type RoleGrant } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { INSTALL_NAMESPACE, MIC_DEPLOYMENT_NAME, NAME_LABEL, NAME_LABEL_VALUE, NMI_DAEMONSET_NAME } from "../aadpodidentity/contract/names.js";
import type { KubeSession } from "../kube/session.js";
import { DEFAULT_RUNTIME_IMAGE, renderInstall, type InstallValues } from "../render/install.js";
import { applyObjectStep } from "./apply-step.js";
import { refuseLegacyFieldPruning } from "./crd-pruning.js";
import { ASSIGN_ACTION } from "./identity-add.js";
import { grantsAnnotation, installGrantDescription, readGrantsRecord, unionGrants } from "./record.js";
import { runSteps, type Step, type StepReport } from "./steps.js";
import type { Progress } from "../util/progress.js";

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
    limitMs: ROLE_GRANT_LIMIT_MS,
    plan: async () => ({ action: (await roles.isAllowed(kubelet, action, scope)) ? "none" : "create", detail: await describe() }),
    apply: async (progress) => {
      if (await roles.isAllowed(kubelet, action, scope)) {
        await noteIfPodids();
        return { outcome: "unchanged", detail: await describe() };
      }
      const role = await roles.resolve(roleId);
      try {
        const { created } = await roles.assign({ scope, role, principalId: kubelet, description: installGrantDescription(cluster.name) }, progress);
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
  const nmi = await kube.read<{ status?: { numberReady?: number; desiredNumberScheduled?: number } } & { apiVersion: string; kind: string }>({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: NMI_DAEMONSET_NAME, namespace } });
  return [
    { component: "mic", kind: "Deployment", name: MIC_DEPLOYMENT_NAME, desired: mic?.spec?.replicas ?? 0, ready: mic?.status?.readyReplicas ?? 0 },
    { component: "nmi", kind: "DaemonSet", name: NMI_DAEMONSET_NAME, desired: nmi?.status?.desiredNumberScheduled ?? 0, ready: nmi?.status?.numberReady ?? 0 },
  ];
}

/** Polls the MIC Deployment and NMI DaemonSet until all their pods are ready, bounded, with progress. */
export async function waitForRollout(kube: KubeSession, namespace: string, timeoutSeconds: number, progress: Progress): Promise<RolloutState[]> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  progress.begin?.("rollout: MIC and NMI ready", timeoutSeconds * 1000);
  for (;;) {
    const states = await rolloutStates(kube, namespace);
    const done = states.every((s) => s.desired > 0 && s.ready >= s.desired);
    progress(states.map((s) => `${s.component} ${s.ready}/${s.desired} ready`).join(", "));
    if (done) {
      progress.end?.("ready");
      return states;
    }
    if (Date.now() > deadline) {
      throw new InstallError(InstallCode.RolloutTimeout, `MIC and NMI were not ready within ${timeoutSeconds}s (${states.map((s) => `${s.component} ${s.ready}/${s.desired}`).join(", ")})`, {
        remedy: `Look at the pods: kubectl get pods -n ${namespace} -l ${NAME_LABEL}=${NAME_LABEL_VALUE}; then podid doctor. Re-running podid install is safe.`,
      });
    }
    await sleep(1000);
  }
}

type Manifest = ReturnType<typeof renderInstall>[number];
const micHeader = (namespace: string) => ({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: MIC_DEPLOYMENT_NAME, namespace } });
const isMic = (m: Manifest) => m.kind === "Deployment" && m.metadata.name === MIC_DEPLOYMENT_NAME;

/** The kubelet identity's assignments podid install made, as recorded on the MIC Deployment (empty when there is none). */
export async function installRecord(kube: KubeSession, namespace: string): Promise<{ grants: RoleGrant[]; problems: string[] }> {
  const mic = await kube.read<{ apiVersion: string; kind: string; metadata?: { annotations?: Record<string, string> } }>(micHeader(namespace));
  return readGrantsRecord(mic?.metadata?.annotations);
}

/**
 * The kubelet grants `podid install` recorded, wherever it installed MIC (every namespace when this caller may list
 * Deployments there, else the default one): what no AzureIdentity's record can make podid remove.
 */
export async function recordedInstallGrants(kube: KubeSession): Promise<RoleGrant[]> {
  type Mic = { apiVersion: string; kind: string; metadata?: { name?: string; annotations?: Record<string, string> } };
  const mics = await kube
    .list<Mic>("apps/v1", "Deployment", undefined, `${NAME_LABEL}=${NAME_LABEL_VALUE}`)
    .catch(() => kube.read<Mic>(micHeader(INSTALL_NAMESPACE)).then((m) => (m ? [m] : [])))
    .catch(() => [] as Mic[]);
  return unionGrants(...mics.filter((m) => m.metadata?.name === MIC_DEPLOYMENT_NAME).map((m) => readGrantsRecord(m.metadata?.annotations).grants));
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
  const pruning = await refuseLegacyFieldPruning(kube, options.dryRun);
  if (pruning) warnings.push(pruning);
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
