import { ArmCode, AzureCode, NotFoundError } from "../errors/index.js";
import { fromAzureError, hasCode } from "./errors.js";
import type { AzureSession } from "./session.js";

/** What workload identity needs of an AKS cluster: the OIDC issuer (its URL) and the workload identity add-on. */
export interface WorkloadIdentityProfile {
  oidcIssuerEnabled: boolean;
  /** As AKS gives it, with its trailing slash: federated credentials must name it exactly. */
  issuerUrl?: string;
  workloadIdentityEnabled: boolean;
}

function notFound(group: string, name: string): NotFoundError {
  return new NotFoundError(AzureCode.ClusterNotFound, `AKS cluster '${name}' was not found in resource group '${group}'`, "Check --cluster and -g; list clusters with: az aks list -o table");
}

export async function workloadIdentityProfile(azure: AzureSession, resourceGroup: string, name: string): Promise<WorkloadIdentityProfile> {
  try {
    const cluster = await (await azure.containerService()).managedClusters.get(resourceGroup, name);
    return {
      oidcIssuerEnabled: cluster.oidcIssuerProfile?.enabled === true,
      issuerUrl: cluster.oidcIssuerProfile?.enabled ? cluster.oidcIssuerProfile.issuerURL : undefined,
      workloadIdentityEnabled: cluster.securityProfile?.workloadIdentity?.enabled === true,
    };
  } catch (err) {
    if (hasCode(err, ArmCode.ResourceNotFound, ArmCode.ResourceGroupNotFound, ArmCode.NotFound)) throw notFound(resourceGroup, name);
    throw fromAzureError(err, `reading AKS cluster ${name}`);
  }
}

/**
 * What `az aks update --enable-oidc-issuer --enable-workload-identity` sends: a GET, then a PUT of the whole
 * cluster with both switched on (the issuer cannot be switched off again). For the demo, which has no az.
 */
export async function enableWorkloadIdentity(azure: AzureSession, resourceGroup: string, name: string): Promise<WorkloadIdentityProfile> {
  try {
    const clusters = (await azure.containerService()).managedClusters;
    const cluster = await clusters.get(resourceGroup, name);
    await clusters.beginCreateOrUpdateAndWait(
      resourceGroup,
      name,
      { ...cluster, oidcIssuerProfile: { ...cluster.oidcIssuerProfile, enabled: true }, securityProfile: { ...cluster.securityProfile, workloadIdentity: { enabled: true } } },
      { updateIntervalInMs: 500 },
    );
  } catch (err) {
    if (hasCode(err, ArmCode.ResourceNotFound, ArmCode.ResourceGroupNotFound, ArmCode.NotFound)) throw notFound(resourceGroup, name);
    throw fromAzureError(err, `enabling workload identity on AKS cluster ${name}`);
  }
  return workloadIdentityProfile(azure, resourceGroup, name);
}
