import { readFileSync } from "node:fs";
import { ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { UsageCode, UsageError } from "../errors/index.js";
import { resolveCloud } from "./cloud.js";
import { AzureSession } from "./session.js";

/**
 * The cloud provider config AKS writes on every node (/etc/kubernetes/azure.json), as upstream MIC reads it.
 * Only the fields MIC uses are typed.
 */
export interface AzureJson {
  cloud?: string;
  tenantId?: string;
  subscriptionId?: string;
  /** The NODE resource group. */
  resourceGroup?: string;
  vmType?: string;
  useManagedIdentityExtension?: boolean;
  /** Client id of the kubelet identity (when useManagedIdentityExtension). */
  userAssignedIdentityID?: string;
  aadClientId?: string;
  aadClientSecret?: string;
}

/** azure.json's cloud names (the Go SDK's environments) -> podid's built-in cloud names. */
const CLOUD_NAMES: Record<string, string> = {
  azurepubliccloud: "AzureCloud",
  azurecloud: "AzureCloud",
  azurechinacloud: "AzureChinaCloud",
  azureusgovernmentcloud: "AzureUSGovernment",
  azureusgovernment: "AzureUSGovernment",
};

export interface ClusterAzure {
  session: AzureSession;
  config: AzureJson;
  /** The identity MIC runs as, when it is a user-assigned one: never to be detached. */
  clusterIdentityClientId?: string;
}

export function readAzureJson(path: string, read: (p: string) => string = (p) => readFileSync(p, "utf8")): AzureJson {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new UsageError(`cannot read the cloud config ${path}: ${(err as Error).message}`, "Mount the node's /etc/kubernetes/azure.json (the manifests do), or omit --cloudconfig.", UsageCode.CloudConfigUnreadable);
  }
  try {
    return JSON.parse(text) as AzureJson;
  } catch (err) {
    throw new UsageError(`the cloud config ${path} is not valid JSON: ${(err as Error).message}`, "Give the node's /etc/kubernetes/azure.json.", UsageCode.CloudConfigInvalid);
  }
}

/**
 * The ARM session MIC uses in a cluster: the cloud, subscription and credential from azure.json. As upstream:
 * managed identity (the user-assigned one named by userAssignedIdentityID, else system-assigned) when
 * useManagedIdentityExtension is set, otherwise the service principal's client secret.
 */
export function clusterAzureFromConfig(config: AzureJson, env: NodeJS.ProcessEnv = process.env): ClusterAzure {
  const cloudName = config.cloud ? (CLOUD_NAMES[config.cloud.toLowerCase()] ?? config.cloud) : undefined;
  const cloud = resolveCloud(cloudName ?? env.PODID_CLOUD, env);
  if (!config.subscriptionId) {
    throw new UsageError("the cloud config has no subscriptionId", "Give the node's /etc/kubernetes/azure.json, which names the cluster's subscription.", UsageCode.CloudConfigInvalid);
  }
  let credential: TokenCredential;
  let clusterIdentityClientId: string | undefined;
  if (config.useManagedIdentityExtension) {
    clusterIdentityClientId = config.userAssignedIdentityID || undefined;
    credential = clusterIdentityClientId ? new ManagedIdentityCredential({ clientId: clusterIdentityClientId }) : new ManagedIdentityCredential();
  } else {
    if (!config.tenantId || !config.aadClientId || !config.aadClientSecret) {
      throw new UsageError(
        "the cloud config has neither useManagedIdentityExtension nor a service principal (tenantId, aadClientId, aadClientSecret)",
        "Give the node's /etc/kubernetes/azure.json.",
        UsageCode.CloudConfigInvalid,
      );
    }
    credential = new ClientSecretCredential(config.tenantId, config.aadClientId, config.aadClientSecret, {
      authorityHost: cloud.authorityHost,
      disableInstanceDiscovery: !cloud.knownAuthority,
    });
  }
  return { session: new AzureSession(cloud, credential, config.subscriptionId), config, clusterIdentityClientId };
}
