import { IDENTITY_TYPE } from "./azure/handlers/msi.js";
import type { AzureState } from "./azure/model.js";
import { findResourceIn, providerId } from "./azure/scopes.js";
import { scaleSetNames } from "./azure/seed.js";

/**
 * The /etc/kubernetes/azure.json AKS writes on every node of a managed-identity cluster, for the sandbox's
 * cluster. No "cloud" entry: the sandbox's cloud is not a built-in one, and the kubelet gives pods PODID_CLOUD.
 */
export function nodeCloudConfig(state: AzureState): Record<string, unknown> {
  const seed = state.seed;
  const kubelet = findResourceIn(state, providerId(seed.subscriptionId, seed.nodeResourceGroup, IDENTITY_TYPE, seed.kubeletIdentityName));
  return {
    tenantId: state.tenantId,
    subscriptionId: seed.subscriptionId,
    aadClientId: "msi",
    aadClientSecret: "msi",
    resourceGroup: seed.nodeResourceGroup,
    location: seed.location,
    vmType: "vmss",
    primaryScaleSetName: scaleSetNames(seed)[0],
    useManagedIdentityExtension: true,
    userAssignedIdentityID: (kubelet?.properties as { clientId?: string } | undefined)?.clientId ?? "",
    useInstanceMetadata: true,
    loadBalancerSku: "Standard",
  };
}
