import { delimiter } from "node:path";
import { containerEnv, EnvError, expand, type DataSource } from "./env.js";
import { mountTable, rewritePaths } from "./pod-files.js";
import type { ContainerSpec, NodeRuntime, Pod } from "./pod.js";

/**
 * How one container of podid's image is started on a sandbox node: the CLI arguments and the environment, from the
 * node (what a cluster gives through its network and mounts), then the container's own env; paths inside its
 * mounts become the host paths behind them. A pure function of what it is given.
 */

export interface ContainerConfigInput {
  container: ContainerSpec;
  /** The CLI arguments the image's entrypoint and the container's command and args make (images.ts). */
  cliArgs: string[];
  pod: Pod;
  podIP: string;
  node: NodeRuntime;
  kube: { port: number; caCertPath: string };
  cloudProfilePath: string;
  /** The pod's ServiceAccount files, when its token is mounted. */
  serviceAccount?: { kubeconfig: string; dir: string };
  /** Each volume's directory on the node. */
  volumePaths: Map<string, string>;
  /** What the container reaches as 169.254.169.254. */
  metadata: string;
  /** The directory of the `iptables` the container runs: its network namespace's recorded table (netfilter.ts). */
  iptablesDir: string;
  data: DataSource;
}

export type ContainerConfig = { args: string[]; env: Record<string, string> } | { reason: string; message: string; retry: boolean };

/** Environment every container gets from the node, before its own env: what in a cluster comes from the network and the mounts. */
function nodeEnvironment(input: ContainerConfigInput): Record<string, string> {
  const spec = input.pod.spec;
  const env: Record<string, string> = {
    // `iptables` changes the recorded table of the pod's network namespace (the node's on the host network), never the machine's.
    PATH: `${input.iptablesDir}${delimiter}${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
    HOSTNAME: spec.hostNetwork ? input.node.name : (input.pod.metadata.name ?? ""),
    KUBERNETES_SERVICE_HOST: "127.0.0.1",
    KUBERNETES_SERVICE_PORT: String(input.kube.port),
    PODID_CLOUD: input.cloudProfilePath,
    NODE_EXTRA_CA_CERTS: input.kube.caCertPath,
    // The pod's 169.254.169.254: the node's IMDS on the host network, else where the node's nat table (NMI's DNAT) or proxy-init sends it.
    AZURE_POD_IDENTITY_AUTHORITY_HOST: input.metadata,
    PODID_SANDBOX_POD_IP: input.podIP,
  };
  if (input.serviceAccount) env.KUBECONFIG = input.serviceAccount.kubeconfig;
  for (const k of ["LANG", "TZ", "SYSTEMROOT"]) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

export function containerConfig(input: ContainerConfigInput): ContainerConfig {
  let vars: Record<string, string>;
  try {
    vars = containerEnv(input.container, { pod: input.pod, podIP: input.podIP, hostIP: input.node.hostIP }, input.data);
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    return { reason: "CreateContainerConfigError", message: err.message, retry: true };
  }
  const mounts = mountTable(input.container.volumeMounts ?? [], input.volumePaths, input.serviceAccount?.dir);
  for (const [k, v] of Object.entries(vars)) vars[k] = rewritePaths(v, mounts);
  const args = input.cliArgs.map((a) => rewritePaths(expand(a, vars), mounts));
  return { args, env: { ...nodeEnvironment(input), ...vars } };
}
