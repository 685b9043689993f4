import { AzureCode, NotFoundError, PodidError, UsageCode, UsageError } from "../errors/index.js";
import type { ClusterInfo, ClusterService } from "../azure/clusters.js";

export interface ClusterRef {
  name?: string;
  resourceGroup?: string;
}

/**
 * The AKS cluster a command acts for. Its name: --cluster, else the kubeconfig context's name (which
 * `az aks get-credentials` sets to the cluster's). Its group: --cluster-resource-group when given; otherwise the
 * command's -g is only a first guess (it is often the identity's group, or the node resource group MC_...), and
 * the cluster is found by its name in the subscription. Two clusters of that name: a usage error naming both.
 */
export async function lookUpCluster(clusters: Pick<ClusterService, "get" | "list">, ref: ClusterRef, fallback: { contextName?: string; resourceGroup?: string }): Promise<ClusterInfo> {
  const name = ref.name ?? fallback.contextName;
  if (!name) {
    throw new UsageError("the AKS cluster is not known", "Pass --cluster NAME --cluster-resource-group GROUP (the cluster whose kubelet identity runs MIC).", UsageCode.MissingCluster);
  }
  if (ref.resourceGroup) return clusters.get(ref.resourceGroup, name);
  const guess = fallback.resourceGroup;
  if (guess) {
    try {
      return await clusters.get(guess, name);
    } catch (err) {
      if (!(err instanceof PodidError) || err.code !== AzureCode.ClusterNotFound) throw err;
    }
  }
  const named = (await clusters.list()).filter((c) => c.name.toLowerCase() === name.toLowerCase());
  const byNodeGroup = guess ? named.filter((c) => c.nodeResourceGroup.toLowerCase() === guess.toLowerCase()) : [];
  if (named.length === 1) return named[0];
  if (byNodeGroup.length === 1) return byNodeGroup[0];
  const source = ref.name ? "" : " (the kubeconfig context's name)";
  if (named.length > 1) {
    throw new UsageError(
      `${named.length} AKS clusters are named ${name}${source}: ${named.map((c) => `${c.name} in resource group ${c.resourceGroup}`).join(", ")}`,
      `Pass --cluster-resource-group GROUP to say which, e.g. --cluster-resource-group ${named[0].resourceGroup}.`,
      UsageCode.AmbiguousCluster,
    );
  }
  throw new NotFoundError(
    AzureCode.ClusterNotFound,
    guess ? `AKS cluster '${name}'${source} was not found in resource group '${guess}' nor anywhere else in the subscription` : `AKS cluster '${name}'${source} was not found in the subscription`,
    "Pass --cluster NAME --cluster-resource-group GROUP (the cluster whose kubelet identity runs MIC); list clusters with: az aks list -o table",
  );
}
