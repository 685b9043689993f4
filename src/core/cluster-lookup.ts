import { UsageError } from "../cli/errors.js";
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
  if (!name || !group) {
    throw new UsageError(
      "the AKS cluster is not known",
      "Pass --cluster NAME --cluster-resource-group GROUP (the cluster whose kubelet identity runs MIC).",
      "MissingCluster",
    );
  }
  return clusters.get(group, name);
}
