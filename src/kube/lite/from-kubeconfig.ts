import { readFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { tokenFile, type KubeEndpoint } from "./endpoint.js";

const data = (b64: string | undefined, file: string | undefined) => (b64 ? Buffer.from(b64, "base64").toString("utf8") : file ? readFileSync(file, "utf8") : undefined);

/** The lean client's endpoint for a loaded @kubernetes/client-node KubeConfig (callers that already hold one). */
export function endpointOf(kc: KubeConfig): KubeEndpoint {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const user = kc.getCurrentUser();
  // In a cluster client-node describes the ServiceAccount token as a "tokenFile" auth provider (the kubelet rotates it).
  const tokenPath = user?.authProvider?.name === "tokenFile" ? (user.authProvider.config?.tokenFile as string | undefined) : undefined;
  if (user?.exec || (user?.authProvider && !tokenPath)) throw new Error(`kubeconfig user '${user.name}': exec and auth-provider credentials are not supported for watches; use a token or a client certificate`);
  const token = user?.token;
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ca: data(cluster.caData, cluster.caFile),
    insecureSkipTlsVerify: cluster.skipTLSVerify,
    cert: data(user?.certData, user?.certFile),
    key: data(user?.keyData, user?.keyFile),
    token: token ? () => token : tokenPath ? tokenFile(tokenPath) : undefined,
  };
}
