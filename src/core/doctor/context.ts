import type { KubernetesObject, V1Node, V1Pod } from "@kubernetes/client-node";
import { COMPONENT_LABEL, WORKLOAD_NAMES, type Component } from "../../aadpodidentity/contract/names.js";
import { declaredNamespacedMode, type DeclaredContainer, type DeclaredNamespacedMode } from "../../aadpodidentity/contract/namespaced-mode.js";
import { desired, type DesiredState } from "../../aadpodidentity/desired.js";
import { bindingSpec } from "../../aadpodidentity/spec.js";
import {
  AAD_POD_IDENTITY_API_VERSION,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from "../../aadpodidentity/types.js";
import { ClusterService, type ClusterInfo } from "../../azure/clusters.js";
import { computeTargetOfProviderId } from "../../azure/provider-id.js";
import { lookUpCluster } from "../cluster-lookup.js";
import { CheckSkipped } from "./model.js";
import { cannotRead, DoctorReads } from "./reads.js";

export type Workload = KubernetesObject & { spec?: { template?: { spec?: { containers?: (DeclaredContainer & { name?: string; image?: string })[] } } } };

/**
 * What the checks ask about: the aadpodidentity objects in the asked scope, MIC and NMI as the runtime contract names
 * them, and what MIC would assign (its own pure desired state) — facts built on the memoised reads below them.
 */
export class DoctorContext extends DoctorReads {
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
    return this.scope.identity ? all.filter((b) => bindingSpec(b).azureIdentity === this.scope.identity) : all;
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

  /** The MIC Deployment(s) and NMI DaemonSet(s), podid's or upstream's, found by their component label or name. */
  async runtimeWorkloads(): Promise<{ mic: Workload[]; nmi: Workload[] }> {
    const [deployments, daemonSets] = await Promise.all([this.list<Workload>("apps/v1", "Deployment"), this.list<Workload>("apps/v1", "DaemonSet")]);
    const is = (w: Workload, component: Component) =>
      w.metadata?.labels?.[COMPONENT_LABEL] === component || w.metadata?.name === WORKLOAD_NAMES[component].podid || w.metadata?.name === WORKLOAD_NAMES[component].upstream;
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

  /**
   * Whether MIC runs in namespaced mode, by the runtime contract's rule over its Deployment's containers (flag and
   * FORCENAMESPACED); off when no MIC is found or Deployments cannot be read. `unresolved` says why the Deployment
   * alone cannot tell (the variable comes from a ConfigMap, Secret or field): doctor then goes by "off" and says so.
   */
  micNamespacedMode(): Promise<DeclaredNamespacedMode> {
    return this.cached("namespaced-mode", async () => {
      const { mic } = await this.runtimeWorkloads().catch(() => ({ mic: [] as Workload[] }));
      const modes = mic.flatMap((d) => (d.spec?.template?.spec?.containers ?? []).map(declaredNamespacedMode));
      if (modes.some((m) => m.on)) return { on: true };
      const unresolved = modes.find((m) => m.unresolved)?.unresolved;
      return unresolved ? { on: false, unresolved: `MIC's ${unresolved}` } : { on: false };
    });
  }

  async micForceNamespaced(): Promise<boolean> {
    return (await this.micNamespacedMode()).on;
  }

  /**
   * What MIC would assign right now, by MIC's own pure matching (aadpodidentity/desired.ts), over the whole cluster:
   * which pod gets which identity through which binding, and what it leaves out and why.
   */
  desired(): Promise<DesiredState> {
    return this.cached("desired", async () => {
      const [pods, identities, bindings, nodes, forceNamespaced] = await Promise.all([this.allPods(), this.allIdentities(), this.allBindings(), this.nodes(), this.micForceNamespaced()]);
      return desired(pods, identities, bindings, nodes, { forceNamespaced });
    });
  }

  /** The AKS cluster: --cluster (with -g, its group or node resource group), else the one whose node resource group holds the nodes' scale sets (in -g when given). */
  aksCluster(): Promise<ClusterInfo> {
    return this.cached("aks", async () => {
      const clusters = new ClusterService(this.azure);
      const ref = this.inputs.cluster;
      try {
        // -g may be the cluster's group or its node resource group (MC_...): lookUpCluster finds it by name then.
        if (ref.name) return await lookUpCluster(clusters, { name: ref.name }, { resourceGroup: ref.resourceGroup });
        const nodes = await this.nodes();
        const groups = new Set(nodes.map((n) => computeTargetOfProviderId(n.spec?.providerID)?.resourceGroup.toLowerCase()).filter((g): g is string => Boolean(g)));
        if (!groups.size) throw new CheckSkipped("no node has an Azure providerID, so the AKS cluster is not known; pass --cluster and -g");
        const inGroup = (c: ClusterInfo) => !ref.resourceGroup || [c.resourceGroup, c.nodeResourceGroup].some((g) => g.toLowerCase() === ref.resourceGroup!.toLowerCase());
        const found = (await clusters.list()).find((c) => groups.has(c.nodeResourceGroup.toLowerCase()) && inGroup(c));
        if (!found) throw new CheckSkipped(`no AKS cluster in subscription ${this.azure.subscriptionId} has node resource group ${[...groups].join(", ")}; pass --cluster and -g (and --subscription)`);
        return found;
      } catch (err) {
        throw cannotRead(err, "read Microsoft.ContainerService/managedClusters");
      }
    });
  }
}
