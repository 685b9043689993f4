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

/** What a kubeconfig's paths are relative to: the file that names them, as client-go resolves them. */
const resolvedFrom = (base: string, path: unknown) => (typeof path === "string" && path ? (path.startsWith("/") ? path : join(base, path)) : undefined);

/** Reads and merges kubeconfig files as kubectl does: the first file to define a name (or current-context) wins; missing files are skipped. */
function readKubeconfigs(paths: string[]): KubeconfigFile & { bases: Map<object, string> } {
  const merged: KubeconfigFile & { bases: Map<object, string> } = { contexts: [], clusters: [], users: [], bases: new Map() };
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const file = (parse(readFileSync(path, "utf8")) ?? {}) as KubeconfigFile;
    const base = join(path, "..");
    merged["current-context"] ||= file["current-context"];
    for (const key of ["contexts", "clusters", "users"] as const) {
      for (const entry of (file[key] ?? []) as { name: string }[]) {
        if ((merged[key] as { name: string }[]).some((e) => e.name === entry.name)) continue;
        (merged[key] as { name: string }[]).push(entry);
        merged.bases.set(entry, base);
      }
    }
  }
  return merged;
}

export function endpointFromKubeconfig(path: string, context?: string): KubeEndpoint {
  const paths = path.split(":").filter(Boolean);
  const file = readKubeconfigs(paths);
  const name = context ?? file["current-context"];
  const ctx = file.contexts?.find((c) => c.name === name)?.context;
  const clusterEntry = file.clusters?.find((c) => c.name === ctx?.cluster);
  const userEntry = file.users?.find((u) => u.name === ctx?.user);
  const cluster = clusterEntry?.cluster;
  const user = userEntry?.user ?? {};
  if (!ctx || !cluster?.server) throw new Error(`kubeconfig ${path} has no cluster for context '${name ?? ""}'`);
  if (user.exec || user["auth-provider"]) throw new Error(`kubeconfig ${path}: exec and auth-provider credentials are not supported by the node agent; use a ServiceAccount token`);
  if (user.username || user.password) throw new Error(`kubeconfig ${path}: basic authentication (username/password) is not supported (Kubernetes removed it in 1.19); use a token or a client certificate`);
  const clusterBase = file.bases.get(clusterEntry!) ?? ".";
  const userBase = userEntry ? (file.bases.get(userEntry) ?? ".") : ".";
  const read = (base: string, p: unknown) => {
    const resolved = resolvedFrom(base, p);
    return resolved ? readFileSync(resolved, "utf8") : undefined;
  };
  const token = typeof user.token === "string" ? user.token : undefined;
  const tokenPath = resolvedFrom(userBase, user.tokenFile);
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ca: fromData(cluster["certificate-authority-data"]) ?? read(clusterBase, cluster["certificate-authority"]),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    cert: fromData(user["client-certificate-data"]) ?? read(userBase, user["client-certificate"]),
    key: fromData(user["client-key-data"]) ?? read(userBase, user["client-key"]),
    token: token !== undefined ? () => token : tokenPath ? tokenFile(tokenPath) : undefined,
  };
}

export function inClusterEndpoint(env: NodeJS.ProcessEnv = process.env): KubeEndpoint {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) throw new Error("not in a cluster: KUBERNETES_SERVICE_HOST is not set and no kubeconfig was given");
  return { server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`, ca: readFileSync(join(IN_CLUSTER, "ca.crt"), "utf8"), token: tokenFile(join(IN_CLUSTER, "token")) };
}

/** As client-go and kubectl look: the given kubeconfig, else KUBECONFIG (its files merged), else ~/.kube/config, else in-cluster. */
export function loadEndpoint(options: { kubeconfig?: string; context?: string } = {}, env: NodeJS.ProcessEnv = process.env): KubeEndpoint {
  const explicit = options.kubeconfig ?? env.KUBECONFIG;
  if (explicit) return endpointFromKubeconfig(explicit, options.context);
  const home = join(homedir(), ".kube", "config");
  if (existsSync(home)) return endpointFromKubeconfig(home, options.context);
  return inClusterEndpoint(env);
}
