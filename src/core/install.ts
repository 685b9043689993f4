import { setTimeout as sleep } from "node:timers/promises";
import { ArmCode, AzureError, InstallCode, InstallError, PodidError } from "../errors/index.js";
import type { ClusterInfo } from "../azure/clusters.js";
import { BUILTIN_ROLES, ROLE_GRANT_LIMIT_MS, RoleService } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { MIC_DEPLOYMENT_NAME, NAME_LABEL, NAME_LABEL_VALUE, NMI_DAEMONSET_NAME } from "../aadpodidentity/contract/names.js";
import { AAD_POD_IDENTITY_API_VERSION } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { renderInstall, type InstallValues } from "../render/install.js";
import { applyObjectStep } from "./apply-step.js";
import { ASSIGN_ACTION } from "./identity-add.js";
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

/** A role the kubelet identity needs at a scope, unless some role it holds there or above already allows `action`. */
function kubeletGrant(roles: RoleService, cluster: ClusterInfo, roleId: string, action: string, scope: string): Step {
  const kubelet = cluster.kubelet.objectId;
  const describe = async () => ({ role: (await roles.resolve(roleId)).roleName, scope, principalId: kubelet });
  return {
    name: `kubelet identity: ${action.includes("assign") ? "Managed Identity Operator" : "Virtual Machine Contributor"} on ${scope}`,
    target: "azure",
    limitMs: ROLE_GRANT_LIMIT_MS,
    plan: async () => ({ action: (await roles.isAllowed(kubelet, action, scope)) ? "none" : "create", detail: await describe() }),
    apply: async (progress) => {
      if (await roles.isAllowed(kubelet, action, scope)) return { outcome: "unchanged", detail: await describe() };
      const role = await roles.resolve(roleId);
      try {
        const { created } = await roles.assign({ scope, role, principalId: kubelet, description: `podid: kubelet of ${cluster.name} runs MIC` }, progress);
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

export async function install(input: InstallInput, azure: AzureSession | undefined, kube: KubeSession, options: { dryRun: boolean; progress: (m: string) => void }): Promise<{ warnings: string[]; steps: StepReport[]; rollout?: RolloutState[]; dryRun: boolean }> {
  const warnings: string[] = [];
  const cluster = input.cluster;
  const kubenet = cluster ? checkNetworkPlugin(cluster, input.values.allowKubenet) : undefined;
  if (kubenet) warnings.push(kubenet);
  if (!cluster) warnings.push("the cluster was not looked up in Azure (--skip-role-assignments): its network plugin was not checked");
  const steps: Step[] = [];
  if (!input.skipRoleAssignments && azure && cluster) {
    const roles = new RoleService(azure);
    steps.push(kubeletGrant(roles, cluster, BUILTIN_ROLES.virtualMachineContributor, SCALE_SET_WRITE, azure.resourceGroupScope(cluster.nodeResourceGroup)));
    for (const group of input.identityResourceGroups) steps.push(kubeletGrant(roles, cluster, BUILTIN_ROLES.managedIdentityOperator, ASSIGN_ACTION, azure.resourceGroupScope(group)));
  }
  for (const manifest of renderInstall(input.values)) steps.push(applyObjectStep(kube, () => manifest));
  const reports = await runSteps(steps, options);
  const rollout = !options.dryRun && input.wait ? await waitForRollout(kube, input.values.namespace, input.timeoutSeconds, options.progress) : undefined;
  return { warnings, steps: reports, ...(rollout ? { rollout } : {}), dryRun: options.dryRun };
}

/** Every grant podid made the cluster's kubelet identity (to run MIC, to assign identities), known by its description. */
export const isKubeletGrantOf = (cluster: string) => (description: string) => description.startsWith(`podid: kubelet of ${cluster} `);

/**
 * What `podid uninstall` removes, in the reverse order of install; CRDs last (that deletes every custom object);
 * then, with the cluster known in Azure, the kubelet identity's grants podid made for pod identity.
 */
export async function uninstall(
  values: InstallValues,
  kube: KubeSession,
  options: { force: boolean; dryRun: boolean; progress: (m: string) => void; grants?: { roles: RoleService; cluster: ClusterInfo } },
): Promise<{ steps: StepReport[]; iptables: string; dryRun: boolean }> {
  const identities = await kube.list(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity").catch(() => []);
  if (identities.length && !options.force) {
    throw new InstallError(InstallCode.IdentitiesRemain, `${identities.length} AzureIdentit${identities.length === 1 ? "y" : "ies"} still exist (${identities.slice(0, 3).map((i) => `${i.metadata?.namespace}/${i.metadata?.name}`).join(", ")}${identities.length > 3 ? ", ..." : ""})`, {
      remedy: "Delete them first (podid identity delete -n NAME --namespace NS), or pass --force to remove them with the CRDs.",
    });
  }
  const steps: Step[] = renderInstall(values)
    .reverse()
    .map((m) => ({
      name: `${m.kind} ${m.metadata.namespace ? m.metadata.namespace + "/" : ""}${m.metadata.name}`,
      target: "cluster" as const,
      plan: async () => ({ action: (await kube.read(m)) ? ("delete" as const) : ("none" as const) }),
      apply: async () => ({ outcome: (await kube.delete(m)) ? ("deleted" as const) : ("absent" as const) }),
    }));
  if (options.grants) {
    const { roles, cluster } = options.grants;
    for (const a of await roles.madeByPodid(isKubeletGrantOf(cluster.name), cluster.kubelet.objectId)) {
      steps.push({
        name: `kubelet identity's role assignment ${a.name} at ${a.scope} (${a.description})`,
        target: "azure",
        plan: async () => ({ action: "delete" }),
        apply: async () => ({ outcome: (await roles.remove(a.scope!, a.name!)) ? "deleted" : "absent" }),
      });
    }
  }
  return {
    steps: await runSteps(steps, options),
    iptables:
      "NMI removes its iptables rules when it stops (SIGTERM). On a node where NMI was killed, run as root: iptables -t nat -D PREROUTING -j aad-metadata; iptables -t nat -F aad-metadata; iptables -t nat -X aad-metadata",
    dryRun: options.dryRun,
  };
}
