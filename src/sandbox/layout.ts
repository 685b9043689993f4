import { join, resolve } from "node:path";

/** Every file the sandbox keeps in its directory, named once. */
export function sandboxLayout(dirArg: string) {
  const dir = resolve(dirArg);
  const state = join(dir, "state");
  return {
    dir,
    /** Written when the sandbox is ready, removed when it stops: pid, endpoints, names. */
    runtime: join(dir, "sandbox.json"),
    /** Cloud profile in `az cloud show` shape: PODID_CLOUD points here. */
    cloudProfile: join(dir, "cloud.json"),
    /** The sandbox CA certificate: NODE_EXTRA_CA_CERTS and REQUESTS_CA_BUNDLE point here. */
    caCert: join(dir, "ca.pem"),
    kubeconfig: join(dir, "kubeconfig"),
    /** The CLI service principal's secret, alone in a 0600 file so `sandbox env` never prints it. */
    clientSecret: join(dir, "client-secret"),
    log: join(dir, "sandbox.log"),
    /** The kubelet's: each pod's files (ServiceAccount token, kubeconfig, container logs). */
    pods: join(dir, "pods"),
    /** The kubelet's: each node's hostPath files (its /etc/kubernetes/azure.json). */
    nodes: join(dir, "nodes"),
    /** The kubelet's: each node's recorded nat table (netfilter.ts), apart from its hostPath files. */
    netfilter: join(dir, "netfilter"),
    state,
    caKey: join(state, "ca-key.pem"),
    tlsCert: join(state, "tls-cert.pem"),
    tlsKey: join(state, "tls-key.pem"),
    ports: join(state, "ports.json"),
    topology: join(state, "topology.json"),
  };
}

export type SandboxLayout = ReturnType<typeof sandboxLayout>;

export const DEFAULT_SANDBOX_DIR = ".podid/sandbox";

/** What sandbox.json holds: everything a client needs to find the sandbox, no secrets. */
export interface SandboxRuntimeInfo {
  pid: number;
  version: string;
  startedAt: string;
  dir: string;
  tenantId: string;
  subscriptionId: string;
  clientId: string;
  resourceGroup: string;
  clusterName: string;
  nodeResourceGroup: string;
  location: string;
  endpoints: {
    activeDirectory: string;
    resourceManager: string;
    activeDirectoryResourceId: string;
    kubernetes: string;
    /** Where the cluster's OIDC issuer is served once enabled (AKS's <region>.oic.prod-aks.azure.com); absent before. */
    oidcIssuerHost?: string;
  };
  nodes: { name: string; instanceId: string; imds: string; internalIP: string }[];
  files: {
    cloudProfile: string;
    caCert: string;
    kubeconfig: string;
    clientSecret: string;
    log: string;
  };
}
