import { UsageCode, UsageError } from "../errors/index.js";
import type { ClusterInfo, ClusterService } from "../azure/clusters.js";

export interface ClusterRef {
  name?: string;
  resourceGroup?: string;
}

/**
 * The AKS cluster a command acts for: --cluster and --cluster-resource-group, else the kubeconfig context's
 * name, which `az aks get-credentials` sets to the cluster's name, together with -g.
 */
export async function lookUpCluster(clusters: ClusterService, ref: ClusterRef, fallback: { contextName?: string; resourceGroup?: string }): Promise<ClusterInfo> {
  const name = ref.name ?? fallback.contextName;
  const group = ref.resourceGroup ?? fallback.resourceGroup;
  const missing = () =>
    new UsageError("the AKS cluster is not known", "Pass --cluster NAME --cluster-resource-group GROUP (the cluster whose kubelet identity runs MIC).", UsageCode.MissingCluster);
  if (!name) throw missing();
  if (group) return clusters.get(group, name);
  // Only the name (the kubeconfig context az aks get-credentials writes): one cluster of that name in the subscription.
  const matches = (await clusters.list()).filter((c) => c.name.toLowerCase() === name.toLowerCase());
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new UsageError(`${matches.length} AKS clusters are named ${name} (in ${matches.map((c) => c.resourceGroup).join(", ")})`, "Pass --cluster-resource-group GROUP to say which.", UsageCode.AmbiguousCluster);
  }
  throw missing();
}
