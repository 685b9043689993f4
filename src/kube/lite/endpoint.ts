import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";

/**
 * Where an API server is and how to authenticate to it, for the lean client the node agent uses (NMI runs on every
 * node: @kubernetes/client-node alone costs it ~70 MiB, its generated models). Covers what an in-cluster agent
 * meets: a ServiceAccount (in-cluster files, re-read as the kubelet rotates the token) or a kubeconfig with a
 * token, token file or client certificate. Exec and auth-provider plugins are not supported here.
 */
export interface KubeEndpoint {
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipTlsVerify?: boolean;
  /** The bearer token for the next request (files are re-read: projected tokens rotate). */
  token?: () => string;
}

const IN_CLUSTER = "/var/run/secrets/kubernetes.io/serviceaccount";

interface KubeconfigFile {
  "current-context"?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: { name: string; cluster: { server: string; "certificate-authority"?: string; "certificate-authority-data"?: string; "insecure-skip-tls-verify"?: boolean } }[];
  users?: { name: string; user: Record<string, unknown> }[];
}

const fromData = (data: unknown) => (typeof data === "string" ? Buffer.from(data, "base64").toString("utf8") : undefined);
const fromFile = (path: unknown, base: string) => (typeof path === "string" ? readFileSync(path.startsWith("/") ? path : join(base, path), "utf8") : undefined);

/** A token file read at most every few seconds: rotation is picked up without a read per request. */
export function tokenFile(path: string): () => string {
  let value = "";
  let readAt = 0;
  return () => {
    if (Date.now() - readAt > 5_000) {
      value = readFileSync(path, "utf8").trim();
      readAt = Date.now();
    }
    return value;
  };
}

export function endpointFromKubeconfig(path: string, context?: string): KubeEndpoint {
  const file = parse(readFileSync(path, "utf8")) as KubeconfigFile;
  const base = join(path, "..");
  const name = context ?? file["current-context"];
  const ctx = file.contexts?.find((c) => c.name === name)?.context;
  const cluster = file.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
  const user = file.users?.find((u) => u.name === ctx?.user)?.user ?? {};
  if (!ctx || !cluster?.server) throw new Error(`kubeconfig ${path} has no cluster for context '${name ?? ""}'`);
  if (user.exec || user["auth-provider"]) throw new Error(`kubeconfig ${path}: exec and auth-provider credentials are not supported by the node agent; use a ServiceAccount token`);
  const token = typeof user.token === "string" ? user.token : undefined;
  const tokenPath = typeof user.tokenFile === "string" ? user.tokenFile : undefined;
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ca: fromData(cluster["certificate-authority-data"]) ?? fromFile(cluster["certificate-authority"], base),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    cert: fromData(user["client-certificate-data"]) ?? fromFile(user["client-certificate"], base),
    key: fromData(user["client-key-data"]) ?? fromFile(user["client-key"], base),
    token: token !== undefined ? () => token : tokenPath ? tokenFile(tokenPath) : undefined,
  };
}

export function inClusterEndpoint(env: NodeJS.ProcessEnv = process.env): KubeEndpoint {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) throw new Error("not in a cluster: KUBERNETES_SERVICE_HOST is not set and no kubeconfig was given");
  return { server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`, ca: readFileSync(join(IN_CLUSTER, "ca.crt"), "utf8"), token: tokenFile(join(IN_CLUSTER, "token")) };
}

/** As client-go and kubectl look: the given kubeconfig, else KUBECONFIG, else ~/.kube/config, else in-cluster. */
export function loadEndpoint(options: { kubeconfig?: string; context?: string } = {}, env: NodeJS.ProcessEnv = process.env): KubeEndpoint {
  const explicit = options.kubeconfig ?? env.KUBECONFIG?.split(":")[0];
  if (explicit) return endpointFromKubeconfig(explicit, options.context);
  const home = join(homedir(), ".kube", "config");
  if (existsSync(home)) return endpointFromKubeconfig(home, options.context);
  return inClusterEndpoint(env);
}
