import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SECRET_FILE_MODE, writeFileAtomic } from "../../util/files.js";
import type { ProjectedTokens, ServiceAccountTokenProjection } from "./projected-tokens.js";

/**
 * What a pod's containers see on disk, under the pod's directory on its node: the ServiceAccount token and a
 * kubeconfig built from it (the in-cluster config a real pod gets), and its volumes. Containers here share the
 * machine's file system, so a path a container was given inside its mounts is rewritten to the host path behind it.
 */

export const SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

type KeyItems = { key: string; path: string }[];

/** One source of a projected volume (ServiceAccount token, ConfigMap, Secret, downward API). */
export interface VolumeProjection {
  serviceAccountToken?: ServiceAccountTokenProjection;
  configMap?: { name: string; items?: KeyItems; optional?: boolean };
  secret?: { name: string; items?: KeyItems; optional?: boolean };
  downwardAPI?: { items?: { path: string; fieldRef?: { fieldPath: string } }[] };
}

export interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: Record<string, unknown>;
  configMap?: { name: string; items?: KeyItems; optional?: boolean };
  secret?: { secretName: string; items?: KeyItems; optional?: boolean };
  projected?: { sources?: VolumeProjection[] };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export function writeServiceAccountFiles(podDir: string, input: { namespace: string; token: string; caCertPem: string; server: string; serviceAccount: string }): { kubeconfig: string; dir: string } {
  const dir = join(podDir, "serviceaccount");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(join(dir, "token"), input.token, SECRET_FILE_MODE);
  writeFileAtomic(join(dir, "ca.crt"), input.caCertPem);
  writeFileAtomic(join(dir, "namespace"), input.namespace);
  const kubeconfig = join(podDir, "kubeconfig");
  const user = `system:serviceaccount:${input.namespace}:${input.serviceAccount}`;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "in-cluster", cluster: { server: input.server, "certificate-authority": join(dir, "ca.crt") } }],
    users: [{ name: user, user: { token: input.token } }],
    contexts: [{ name: "in-cluster", context: { cluster: "in-cluster", user, namespace: input.namespace } }],
    "current-context": "in-cluster",
  };
  writeFileAtomic(kubeconfig, JSON.stringify(config, null, 2), SECRET_FILE_MODE);
  return { kubeconfig, dir };
}

type DataSource = (kind: "ConfigMap" | "Secret", namespace: string, name: string) => Record<string, string> | undefined;

/** What the kubelet fills volumes from: ConfigMaps and Secrets, the pod's fields, its projected tokens. */
export interface VolumeSources {
  data: DataSource;
  /** A downward API fieldPath's value for this pod. */
  field(fieldPath: string): string;
  tokens: ProjectedTokens;
}

/** A ConfigMap's or Secret's keys as files: all of them, or only `items` under their paths. */
function writeKeys(dir: string, values: Record<string, string> | undefined, items: KeyItems | undefined): void {
  for (const [key, value] of Object.entries(values ?? {})) {
    const target = items ? items.find((i) => i.key === key)?.path : key;
    if (target) writeFileAtomic(join(dir, target), value, SECRET_FILE_MODE);
  }
}

async function project(dir: string, sources: VolumeProjection[], namespace: string, from: VolumeSources): Promise<void> {
  for (const source of sources) {
    if (source.serviceAccountToken) await from.tokens.project(dir, source.serviceAccountToken);
    if (source.configMap) writeKeys(dir, from.data("ConfigMap", namespace, source.configMap.name), source.configMap.items);
    if (source.secret) writeKeys(dir, from.data("Secret", namespace, source.secret.name), source.secret.items);
    for (const item of source.downwardAPI?.items ?? []) if (item.fieldRef) writeFileAtomic(join(dir, item.path), from.field(item.fieldRef.fieldPath), SECRET_FILE_MODE);
  }
}

/** The host path behind each volume, made ready (hostPath *OrCreate, emptyDir, configMap, secret and projected files). */
export async function prepareVolumes(volumes: Volume[], podDir: string, nodeRoot: string, namespace: string, from: VolumeSources): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  for (const v of volumes) {
    if (v.hostPath) {
      const path = join(nodeRoot, v.hostPath.path);
      if (v.hostPath.type === "FileOrCreate" && !existsSync(path)) {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, "");
      }
      if (v.hostPath.type === "DirectoryOrCreate") mkdirSync(path, { recursive: true });
      paths.set(v.name, path);
      continue;
    }
    if (!v.emptyDir && !v.configMap && !v.secret && !v.projected) continue;
    const path = join(podDir, "volumes", v.name);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if (v.configMap) writeKeys(path, from.data("ConfigMap", namespace, v.configMap.name), v.configMap.items);
    if (v.secret) writeKeys(path, from.data("Secret", namespace, v.secret.secretName), v.secret.items);
    if (v.projected) await project(path, v.projected.sources ?? [], namespace, from);
    paths.set(v.name, path);
  }
  return paths;
}

/** mountPath -> host path for a container's mounts, plus the ServiceAccount mount when there is one. */
export function mountTable(mounts: VolumeMount[], volumePaths: Map<string, string>, serviceAccountDir: string | undefined): [string, string][] {
  const table: [string, string][] = [];
  for (const m of mounts) {
    const base = volumePaths.get(m.name);
    if (base) table.push([m.mountPath.replace(/\/+$/, ""), m.subPath ? join(base, m.subPath) : base]);
  }
  if (serviceAccountDir && !table.some(([p]) => p === SERVICE_ACCOUNT_MOUNT)) table.push([SERVICE_ACCOUNT_MOUNT, serviceAccountDir]);
  return table.sort((a, b) => b[0].length - a[0].length);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Rewrites container paths inside mounts to their host paths: `--cloudconfig=/etc/kubernetes/azure.json` too. */
export function rewritePaths(text: string, table: [string, string][]): string {
  let out = text;
  for (const [mount, host] of table) out = out.replace(new RegExp(`(^|[=:,])${escape(mount)}(?=$|/)`, "g"), (_m, lead: string) => `${lead}${host}`);
  return out;
}
