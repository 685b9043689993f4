import type { V1Node, V1Pod, KubernetesObject } from "@kubernetes/client-node";
import { ArmCode, AzureCode, KubernetesCode, PodidError, UsageCode } from "../../errors/index.js";
import { ClusterService, type ClusterInfo } from "../../azure/clusters.js";
import { IdentityService, type UserAssignedIdentity } from "../../azure/identities.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../azure/resource-id.js";
import { RoleService } from "../../azure/roles.js";
import type { AzureSession } from "../../azure/session.js";
import { computeTargetOfProviderId, type ComputeTarget } from "../../azure/provider-id.js";
import { ComputeIdentities, type ComputeIdentityState } from "../../azure/scale-sets.js";
import {
  AAD_POD_IDENTITY_API_VERSION,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from "../../kube/aadpodidentity.js";
import type { KubeSession } from "../../kube/session.js";
import { desired, type DesiredState } from "../../runtime/mic/desired.js";
import { lookUpCluster } from "../cluster-lookup.js";
import { CheckSkipped } from "./model.js";

/** What the user asked doctor to look at. */
export interface DoctorScope {
  /** Undefined: all namespaces (-A). */
  namespace?: string;
  identity?: string;
  pod?: string;
  probe: boolean;
}

export interface DoctorInputs {
  scope: DoctorScope;
  /** Opens the cluster session; may throw (bad kubeconfig), which the cluster check reports. */
  openKube: () => KubeSession;
  /** Opens the Azure session; may throw (no subscription), which Azure checks turn into skipped. */
  openAzure: () => AzureSession;
  /** --cluster / -g; otherwise the AKS cluster is found from the nodes' scale sets. */
  cluster: { name?: string; resourceGroup?: string };
  /** --stuck-after: an AzureAssignedIdentity not Assigned for longer is reported (default 2m). */
  stuckAfterMs?: number;
}

type Header = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
export type Workload = KubernetesObject & { spec?: { template?: { spec?: { containers?: { name?: string; image?: string; args?: string[]; command?: string[] }[] } } } };

/** The plural resource name a kind is listed by, for the permission a skipped check names. */
const RESOURCES: Record<string, string> = {
  AzureIdentity: "azureidentities.aadpodidentity.k8s.io",
  AzureIdentityBinding: "azureidentitybindings.aadpodidentity.k8s.io",
  AzureAssignedIdentity: "azureassignedidentities.aadpodidentity.k8s.io",
  AzurePodIdentityException: "azurepodidentityexceptions.aadpodidentity.k8s.io",
  CustomResourceDefinition: "customresourcedefinitions.apiextensions.k8s.io",
  Deployment: "deployments.apps",
  DaemonSet: "daemonsets.apps",
  ReplicaSet: "replicasets.apps",
  NetworkPolicy: "networkpolicies.networking.k8s.io",
};
const resourceOf = (kind: string) => RESOURCES[kind] ?? `${kind.toLowerCase()}s`;

/**
 * The read-only view every check shares: each cluster and Azure read is made at most once, when a check first
 * asks for it (concurrent askers share the promise). A read that cannot be made throws CheckSkipped naming
 * what is missing, so the asking check is reported as skipped rather than crashing the run.
 */
export class DoctorContext {
  private readonly memo = new Map<string, Promise<unknown>>();
  private kubeSession?: { session?: KubeSession; error?: unknown };
  private azureSession?: { session?: AzureSession; error?: unknown };

  constructor(private readonly inputs: DoctorInputs) {}

  get scope(): DoctorScope {
    return this.inputs.scope;
  }

  get clusterRef(): { name?: string; resourceGroup?: string } {
    return this.inputs.cluster;
  }

  get stuckAfterMs(): number {
    return this.inputs.stuckAfterMs ?? 120_000;
  }

  /** Caches a read by key; concurrent callers share one request. */
  cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = load();
      this.memo.set(key, p);
    }
    return p;
  }

  /** The kubeconfig's session, or the error opening it (the cluster check reports it). */
  kubeOrError(): { session?: KubeSession; error?: unknown } {
    if (!this.kubeSession) {
      try {
        this.kubeSession = { session: this.inputs.openKube() };
      } catch (error) {
        this.kubeSession = { error };
      }
    }
    return this.kubeSession;
  }

  get kube(): KubeSession {
    const { session } = this.kubeOrError();
    if (!session) throw new CheckSkipped("the kubeconfig cannot be used (see check cluster)");
    return session;
  }

  get azure(): AzureSession {
    if (!this.azureSession) {
      try {
        this.azureSession = { session: this.inputs.openAzure() };
      } catch (error) {
        this.azureSession = { error };
      }
    }
    if (!this.azureSession.session) throw cannotRead(this.azureSession.error, "opening the Azure session");
    return this.azureSession.session;
  }

  /** Lists a kind (all namespaces when namespace is undefined), cached; unreadable -> CheckSkipped. */
  list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
    return this.cached(`list|${apiVersion}|${kind}|${namespace ?? "*"}|${labelSelector ?? ""}`, async () => {
      try {
        return await this.kube.list<T>(apiVersion, kind, namespace, labelSelector);
      } catch (err) {
        throw cannotRead(err, `list ${resourceOf(kind)}${namespace ? ` in namespace ${namespace}` : " (all namespaces)"}`, apiVersion === AAD_POD_IDENTITY_API_VERSION);
      }
    });
  }

  read<T extends KubernetesObject>(header: Header): Promise<T | undefined> {
    return this.cached(`read|${header.apiVersion}|${header.kind}|${header.metadata.namespace ?? ""}|${header.metadata.name}`, async () => {
      try {
        return await this.kube.read<T>(header);
      } catch (err) {
        throw cannotRead(err, `get ${resourceOf(header.kind)}${header.metadata.namespace ? ` in namespace ${header.metadata.namespace}` : ""}`);
      }
    });
  }

  // --- the aadpodidentity objects and pods, in the asked scope or cluster-wide ---

  /** AzureIdentities in scope (-n / -A, --identity). */
  async identities(): Promise<AzureIdentity[]> {
    const all = await this.list<AzureIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", this.scope.namespace);
    return this.scope.identity ? all.filter((i) => i.metadata.name === this.scope.identity) : all;
  }

  /** Every AzureIdentity in the cluster: MIC resolves bindings and selectors cluster-wide. */
  allIdentities(): Promise<AzureIdentity[]> {
    return this.list<AzureIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity");
  }

  /** AzureIdentityBindings in scope (-n / -A; with --identity, those naming it). */
  async bindings(): Promise<AzureIdentityBinding[]> {
    const all = await this.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", this.scope.namespace);
    return this.scope.identity ? all.filter((b) => b.spec?.azureIdentity === this.scope.identity) : all;
  }

  allBindings(): Promise<AzureIdentityBinding[]> {
    return this.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding");
  }

  assignedIdentities(): Promise<AzureAssignedIdentity[]> {
    return this.list<AzureAssignedIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureAssignedIdentity");
  }

  exceptions(): Promise<AzurePodIdentityException[]> {
    return this.list<AzurePodIdentityException>(AAD_POD_IDENTITY_API_VERSION, "AzurePodIdentityException");
  }

  /** Pods in scope (-n / -A; --pod). */
  async pods(): Promise<V1Pod[]> {
    const all = await this.list<V1Pod>("v1", "Pod", this.scope.namespace);
    return this.scope.pod ? all.filter((p) => p.metadata?.name === this.scope.pod) : all;
  }

  allPods(): Promise<V1Pod[]> {
    return this.list<V1Pod>("v1", "Pod");
  }

  nodes(): Promise<V1Node[]> {
    return this.list<V1Node>("v1", "Node");
  }

  /** The MIC Deployment(s) and NMI DaemonSet(s), podid's or upstream's, found by label or name. */
  async runtimeWorkloads(): Promise<{ mic: Workload[]; nmi: Workload[] }> {
    const [deployments, daemonSets] = await Promise.all([this.list<Workload>("apps/v1", "Deployment"), this.list<Workload>("apps/v1", "DaemonSet")]);
    const is = (w: Workload, component: string) => w.metadata?.labels?.["app.kubernetes.io/component"] === component || w.metadata?.name === component || w.metadata?.name === `podid-${component}`;
    return { mic: deployments.filter((d) => is(d, "mic")), nmi: daemonSets.filter((d) => is(d, "nmi")) };
  }

  /** The pods of the MIC Deployment(s) and NMI DaemonSet(s), by their pod template labels. */
  async runtimePods(): Promise<{ mic: V1Pod[]; nmi: V1Pod[] }> {
    const [{ mic, nmi }, pods] = await Promise.all([this.runtimeWorkloads(), this.allPods()]);
    const selects = (w: Workload, p: V1Pod) => {
      const want = (w.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels ?? {};
      return p.metadata?.namespace === w.metadata?.namespace && Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => p.metadata?.labels?.[k] === v);
    };
    return { mic: pods.filter((p) => mic.some((w) => selects(w, p))), nmi: pods.filter((p) => nmi.some((w) => selects(w, p))) };
  }

  /** Events in a namespace (all namespaces when undefined), e.g. MIC's Warning events on AzureAssignedIdentities. */
  events(namespace?: string): Promise<KubernetesObject[]> {
    return this.list<KubernetesObject>("v1", "Event", namespace);
  }

  /** The tail of a pod's log (MIC's and NMI's own words), cached. */
  podLog(namespace: string, name: string, tailLines = 200): Promise<string> {
    return this.cached(`log|${namespace}|${name}|${tailLines}`, async () => {
      try {
        return await this.kube.podLog(namespace, name, { tailLines });
      } catch (err) {
        throw cannotRead(err, `get pods/log in namespace ${namespace}`);
      }
    });
  }

  /** Whether MIC runs with --forceNamespaced (false when no MIC is found or Deployments cannot be read). */
  async micForceNamespaced(): Promise<boolean> {
    const { mic } = await this.runtimeWorkloads().catch(() => ({ mic: [] as Workload[] }));
    return mic.some((d) => (d.spec?.template?.spec?.containers ?? []).some((c) => [...(c.args ?? []), ...(c.command ?? [])].some((a) => /^--forceNamespaced(=true)?$/i.test(a))));
  }

  /**
   * What MIC would assign right now, by MIC's own pure matching (runtime/mic/desired.ts), over the whole cluster:
   * which pod gets which identity through which binding, and what it leaves out and why.
   */
  desired(): Promise<DesiredState> {
    return this.cached("desired", async () => {
      const [pods, identities, bindings, nodes, forceNamespaced] = await Promise.all([this.allPods(), this.allIdentities(), this.allBindings(), this.nodes(), this.micForceNamespaced()]);
      return desired(pods, identities, bindings, nodes, { forceNamespaced });
    });
  }

  // --- Azure ---

  get roles(): RoleService {
    return this.cachedSync("roles", () => new RoleService(this.azure));
  }

  /** Whether the principal may perform `action` at `scope` (RoleService.isAllowed; custom roles count), cached. */
  isAllowed(principalId: string, action: string, scope: string): Promise<boolean> {
    return this.cached(`allowed|${principalId}|${action}|${scope.toLowerCase()}`, async () => {
      try {
        return await this.roles.isAllowed(principalId, action, scope);
      } catch (err) {
        throw cannotRead(err, "read role assignments and role definitions");
      }
    });
  }

  /** The user-assigned identity at a resource id, or undefined when it does not exist. */
  azureIdentity(resourceId: string): Promise<UserAssignedIdentity | undefined> {
    return this.cached(`identity|${resourceId.toLowerCase()}`, async () => {
      const id = parseResourceId(resourceId, USER_ASSIGNED_IDENTITY_TYPE);
      try {
        if (id.subscriptionId.toLowerCase() !== this.azure.subscriptionId.toLowerCase()) {
          throw new CheckSkipped(`identity ${resourceId} is in subscription ${id.subscriptionId}, not the session's ${this.azure.subscriptionId}; run with --subscription ${id.subscriptionId}`);
        }
        return await new IdentityService(this.azure).get(id.resourceGroup, id.name);
      } catch (err) {
        throw cannotRead(err, "read user-assigned identities");
      }
    });
  }

  /** The user-assigned identities attached to a scale set or VM (what MIC wrote), cached; one attempt, no retry budget. */
  computeIdentities(target: ComputeTarget): Promise<ComputeIdentityState> {
    return this.cached(`compute|${target.id}`, async () => {
      try {
        return await new ComputeIdentities(this.azure, { maxRetryMs: 0 }).get(target);
      } catch (err) {
        throw cannotRead(err, `read ${target.kind === "scaleSet" ? "Microsoft.Compute/virtualMachineScaleSets" : "Microsoft.Compute/virtualMachines"}`);
      }
    });
  }

  /** The AKS cluster: --cluster and -g, else the one whose node resource group holds the nodes' scale sets. */
  aksCluster(): Promise<ClusterInfo> {
    return this.cached("aks", async () => {
      const clusters = new ClusterService(this.azure);
      const ref = this.inputs.cluster;
      try {
        // -g may be the cluster's group or its node resource group (MC_...): lookUpCluster finds it by name then.
        if (ref.name && ref.resourceGroup) return await lookUpCluster(clusters, { name: ref.name }, { resourceGroup: ref.resourceGroup });
        const nodes = await this.nodes();
        const groups = new Set(nodes.map((n) => computeTargetOfProviderId(n.spec?.providerID)?.resourceGroup.toLowerCase()).filter((g): g is string => Boolean(g)));
        if (!groups.size) throw new CheckSkipped("no node has an Azure providerID, so the AKS cluster is not known; pass --cluster and -g");
        const found = (await clusters.list()).find((c) => groups.has(c.nodeResourceGroup.toLowerCase()) && (!ref.name || c.name === ref.name));
        if (!found) throw new CheckSkipped(`no AKS cluster in subscription ${this.azure.subscriptionId} has node resource group ${[...groups].join(", ")}; pass --cluster and -g (and --subscription)`);
        return found;
      } catch (err) {
        throw cannotRead(err, "read Microsoft.ContainerService/managedClusters");
      }
    });
  }

  private readonly sync = new Map<string, unknown>();
  private cachedSync<T>(key: string, make: () => T): T {
    if (!this.sync.has(key)) this.sync.set(key, make());
    return this.sync.get(key) as T;
  }
}

/**
 * Turns a failed read into CheckSkipped naming what is missing: the cluster (unreachable), the CRDs, a
 * Kubernetes permission, an Azure credential or an Azure action. Anything else is rethrown.
 */
export function cannotRead(err: unknown, what: string, aadPodIdentityKind = false): unknown {
  if (err instanceof CheckSkipped) return err;
  if (!(err instanceof PodidError)) return err;
  switch (err.code) {
    case KubernetesCode.ClusterUnreachable:
      return new CheckSkipped("cannot reach the cluster (see check cluster)");
    case KubernetesCode.KubernetesForbidden:
      return new CheckSkipped(`not allowed to ${what}: ${err.message}`, `kubernetes: ${what}`);
    case KubernetesCode.KubernetesUnauthorized:
      return new CheckSkipped(`the cluster refused the kubeconfig's credentials (see check cluster)`);
    case KubernetesCode.KubernetesRequestFailed:
    case KubernetesCode.KubernetesNotFound:
      if (aadPodIdentityKind) return new CheckSkipped(`the cluster does not serve ${AAD_POD_IDENTITY_API_VERSION} (see check crds)`);
      return err;
    case AzureCode.AzureCredentialUnavailable:
      return new CheckSkipped(`no Azure credential: ${err.message}`, "an Azure sign-in (az login, or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)");
    case UsageCode.MissingSubscription:
      return new CheckSkipped("no Azure subscription given: pass --subscription or set AZURE_SUBSCRIPTION_ID");
    case ArmCode.AuthorizationFailed:
    case ArmCode.LinkedAuthorizationFailed: {
      const action = (err.details?.action as string | undefined) ?? what;
      return new CheckSkipped(`not allowed to ${what}: ${err.message}`, `azure: ${action}`);
    }
    default:
      return err;
  }
}
