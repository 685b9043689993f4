import type { CloudConfig } from "../azure/cloud.js";

/** The sandbox's cloud profile, every field `az cloud show` prints, pointing at the local endpoints. */
export function sandboxCloudProfile(endpoints: { activeDirectory: string; resourceManager: string }): CloudConfig {
  const arm = endpoints.resourceManager.replace(/\/+$/, "") + "/";
  return {
    name: "PodidSandbox",
    profile: "latest",
    isActive: false,
    endpoints: {
      activeDirectory: endpoints.activeDirectory.replace(/\/+$/, ""),
      activeDirectoryDataLakeResourceId: null,
      activeDirectoryGraphResourceId: "https://graph.windows.net/",
      activeDirectoryResourceId: arm,
      appInsightsResourceId: null,
      appInsightsTelemetryChannelResourceId: null,
      attestationResourceId: null,
      azmirrorStorageAccountResourceId: null,
      batchResourceId: null,
      gallery: null,
      logAnalyticsResourceId: null,
      management: arm,
      mediaResourceId: null,
      microsoftGraphResourceId: "https://graph.microsoft.com/",
      ossrdbmsResourceId: null,
      portal: null,
      resourceManager: arm,
      sqlManagement: null,
      synapseAnalyticsResourceId: null,
      vmImageAliasDoc: null,
    },
    suffixes: {
      acrLoginServerEndpoint: null,
      attestationEndpoint: null,
      azureDatalakeAnalyticsCatalogAndJobEndpoint: null,
      azureDatalakeStoreFileSystemEndpoint: null,
      keyvaultDns: null,
      mariadbServerEndpoint: null,
      mhsmDns: null,
      mysqlServerEndpoint: null,
      postgresqlServerEndpoint: null,
      sqlServerHostname: null,
      storageEndpoint: null,
      storageSyncEndpoint: null,
      synapseAnalyticsEndpoint: null,
    },
  };
}
