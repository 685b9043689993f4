import type { ManagedCluster } from "@azure/arm-containerservice";
import { ArmCode, AzureCode, NotFoundError } from "../errors/index.js";
import { fromAzureError, hasCode } from "./errors.js";
import type { AzureSession } from "./session.js";

/** What podid needs to know about an AKS cluster. */
export interface ClusterInfo {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  nodeResourceGroup: string;
  networkPlugin: string;
  kubelet: { resourceId: string; clientId: string; objectId: string };
}

function toInfo(cluster: ManagedCluster, resourceGroup: string): ClusterInfo {
  const kubelet = cluster.identityProfile?.kubeletidentity;
  return {
    id: cluster.id!,
    name: cluster.name!,
    resourceGroup,
    location: cluster.location,
    nodeResourceGroup: cluster.nodeResourceGroup!,
    networkPlugin: cluster.networkProfile?.networkPlugin ?? "kubenet",
    kubelet: { resourceId: kubelet?.resourceId ?? "", clientId: kubelet?.clientId ?? "", objectId: kubelet?.objectId ?? "" },
  };
}

export class ClusterService {
  constructor(private readonly azure: AzureSession) {}

  async get(resourceGroup: string, name: string): Promise<ClusterInfo> {
    try {
      return toInfo(await (await this.azure.containerService()).managedClusters.get(resourceGroup, name), resourceGroup);
    } catch (err) {
      if (hasCode(err, ArmCode.ResourceNotFound, ArmCode.ResourceGroupNotFound, ArmCode.NotFound)) {
        throw new NotFoundError(
          AzureCode.ClusterNotFound,
          `AKS cluster '${name}' was not found in resource group '${resourceGroup}'`,
          `Check --cluster and --cluster-resource-group; list clusters with: az aks list -o table`,
        );
      }
      throw fromAzureError(err, `reading AKS cluster ${name}`);
    }
  }

  /** Every AKS cluster in the subscription. */
  async list(): Promise<ClusterInfo[]> {
    try {
      const out: ClusterInfo[] = [];
      for await (const c of (await this.azure.containerService()).managedClusters.list()) out.push(toInfo(c, /\/resourcegroups\/([^/]+)/i.exec(c.id ?? "")?.[1] ?? ""));
      return out;
    } catch (err) {
      throw fromAzureError(err, "listing AKS clusters");
    }
  }
}
