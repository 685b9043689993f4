import type { CreateAdmission } from "../registry/requests.js";
import type { Storage } from "../storage.js";
import { Errors } from "../errors.js";
import type { KubeObject } from "../types.js";

/**
 * What AKS's workload identity add-on (azure-workload-identity's mutating webhook, v1.5.1/v1.6) does to a pod at creation,
 * run as admission by the sandbox's API server while the cluster has workload identity enabled: pods labelled
 * `azure.workload.identity/use: "true"` get, in every container not skipped, the environment the Azure SDKs read
 * (client id from their ServiceAccount's annotation, tenant, token file, authority host) and a mount of the
 * projected service-account token for Entra ID's exchange; and, when annotated for it, the proxy sidecar that
 * answers IMDS-style requests with that token.
 *
 * The names and defaults below are upstream's, copied on purpose: the sandbox stands for AKS's add-on and keeps its
 * own copy of the contract (the product's is src/kube/workload-identity.ts, which never imports the sandbox); the
 * sandbox's kubelet reads the proxy's port and uid from here when it applies proxy-init.
 */

export const WEBHOOK_NAME = "mutation.azure-workload-identity.io";
export const USE_LABEL = "azure.workload.identity/use";
export const CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id";
export const TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id";
export const TOKEN_EXPIRATION_ANNOTATION = "azure.workload.identity/service-account-token-expiration";
export const SKIP_CONTAINERS_ANNOTATION = "azure.workload.identity/skip-containers";
export const INJECT_PROXY_ANNOTATION = "azure.workload.identity/inject-proxy-sidecar";
export const PROXY_PORT_ANNOTATION = "azure.workload.identity/proxy-sidecar-port";

export const TOKEN_VOLUME = "azure-identity-token";
export const TOKEN_MOUNT_PATH = "/var/run/secrets/azure/tokens";
export const TOKEN_FILE = `${TOKEN_MOUNT_PATH}/${TOKEN_VOLUME}`;
export const TOKEN_AUDIENCE = "api://AzureADTokenExchange";
export const PROXY_INIT_CONTAINER = "azwi-proxy-init";
export const PROXY_CONTAINER = "azwi-proxy";
export const DEFAULT_PROXY_PORT = 8000;
/** The uid proxy-init's iptables rules exempt from the redirect: the proxy's own traffic to the real IMDS. */
export const PROXY_UID = 1501;
const MIN_EXPIRATION = 3600;
const MAX_EXPIRATION = 86400;
const DEFAULT_EXPIRATION = 3600;
const LOG_LEVEL = "info";

export interface WorkloadIdentityWebhookConfig {
  /** Whether the cluster has workload identity enabled (read on every pod). */
  enabled(): boolean;
  /** The cluster's tenant (the add-on's AZURE_TENANT_ID). */
  tenantId: string;
  /** The cloud's Entra ID endpoint as the add-on injects it, with the trailing slash. */
  authorityHost: string;
  /** The proxy-init image (upstream's; the sandbox kubelet applies its effect itself). */
  proxyInitImage: string;
  /**
   * The proxy sidecar's image: podid's runtime image, whose `runtime proxy` is the proxy (the sandbox's nodes run
   * only podid's images). It runs as PROXY_UID, as upstream's proxy image does, so proxy-init's rules exempt it.
   */
  proxyImage: string;
}

interface EnvVar {
  name: string;
  value?: string;
  [other: string]: unknown;
}

interface Container {
  name: string;
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  [other: string]: unknown;
}

interface PodSpec {
  serviceAccountName?: string;
  hostNetwork?: boolean;
  containers?: Container[];
  initContainers?: Container[];
  volumes?: { name: string; projected?: { sources?: { serviceAccountToken?: { path?: string; expirationSeconds?: number; audience?: string } }[] }; [other: string]: unknown }[];
}

class Denied extends Error {}

/** Go's strconv.ParseInt(text, 10, bits), with its error text. */
function parseGoInt(text: string, bits: number): number {
  if (!/^[+-]?\d+$/.test(text)) throw new Denied(`strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
  const value = Number(text);
  const limit = 2 ** (bits - 1);
  if (!Number.isSafeInteger(value) || value < -limit || value > limit - 1) throw new Denied(`strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`);
  return value;
}

/** The pod's annotation first, then the ServiceAccount's, else the default; 3600 to 86400 seconds. */
function tokenExpiration(pod: KubeObject, sa: KubeObject): number {
  const fromPod = pod.metadata.annotations?.[TOKEN_EXPIRATION_ANNOTATION];
  const fromSa = sa.metadata.annotations?.[TOKEN_EXPIRATION_ANNOTATION];
  const text = fromPod || fromSa;
  const seconds = text ? parseGoInt(text, 64) : DEFAULT_EXPIRATION;
  if (seconds < MIN_EXPIRATION || seconds > MAX_EXPIRATION) throw new Denied(`token expiration ${seconds} not valid. Expected value to be between ${MIN_EXPIRATION} and ${MAX_EXPIRATION}`);
  return seconds;
}

function proxyPort(pod: KubeObject): number {
  const text = pod.metadata.annotations?.[PROXY_PORT_ANNOTATION];
  if (text === undefined) return DEFAULT_PROXY_PORT;
  try {
    return parseGoInt(text, 32);
  } catch (err) {
    throw new Denied(`failed to parse proxy sidecar port: ${(err as Error).message}`);
  }
}

function proxyInitContainer(config: WorkloadIdentityWebhookConfig, port: number): Container {
  return {
    name: PROXY_INIT_CONTAINER,
    image: config.proxyInitImage,
    imagePullPolicy: "IfNotPresent",
    securityContext: { capabilities: { add: ["NET_ADMIN"], drop: ["ALL"] }, privileged: true, runAsNonRoot: false, runAsUser: 0 },
    env: [{ name: "PROXY_PORT", value: String(port) }],
  };
}

function proxyContainer(config: WorkloadIdentityWebhookConfig, port: number): Container {
  const flags = [`--proxy-port=${port}`, `--log-level=${LOG_LEVEL}`];
  return {
    name: PROXY_CONTAINER,
    image: config.proxyImage,
    imagePullPolicy: "IfNotPresent",
    args: ["runtime", "proxy", ...flags],
    ports: [{ containerPort: port }],
    lifecycle: { postStart: { exec: { command: ["podid", "runtime", "proxy", `--proxy-port=${port}`, "--probe", `--log-level=${LOG_LEVEL}`] } } },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
    },
  };
}

/**
 * Upstream's addEnvironmentVariables since v1.5.1 (azure-workload-identity#1593, kept in v1.6): each variable the
 * container does not name already (by name, whatever its value), and only when it has a value, so a ServiceAccount
 * without a client-id (or with an empty tenant-id) gives no AZURE_CLIENT_ID (AZURE_TENANT_ID). v1.5.0 and earlier
 * appended them empty.
 */
function mutateContainer(c: Container, env: EnvVar[]): void {
  const present = new Set((c.env ?? []).map((e) => e.name));
  const added = env.filter((e) => !present.has(e.name) && e.value);
  if (added.length) c.env = [...(c.env ?? []), ...added];
  if (!(c.volumeMounts ?? []).some((m) => m.name === TOKEN_VOLUME)) {
    c.volumeMounts = [...(c.volumeMounts ?? []), { name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT_PATH, readOnly: true }];
  }
}

function hasTokenVolume(spec: PodSpec): boolean {
  return (spec.volumes ?? []).some((v) => (v.projected?.sources ?? []).some((s) => s.serviceAccountToken?.path === TOKEN_VOLUME));
}

function mutate(config: WorkloadIdentityWebhookConfig, pod: KubeObject, storage: Storage): void {
  const spec = (pod.spec ??= {}) as PodSpec;
  const namespace = pod.metadata.namespace ?? "default";
  const saName = spec.serviceAccountName || "default";
  const sa = storage.get("serviceaccounts", namespace, saName);
  if (!sa) throw new Denied(`serviceaccounts "${saName}" not found`);
  const annotations = pod.metadata.annotations ?? {};
  if (INJECT_PROXY_ANNOTATION in annotations) {
    // Redirecting the metadata address on the host network would take it from every pod of the node.
    if (spec.hostNetwork) throw new Denied("hostNetwork is set to true, cannot inject proxy sidecar");
    const port = proxyPort(pod);
    const inits = spec.initContainers ?? [];
    if (!inits.some((c) => c.name === PROXY_INIT_CONTAINER)) spec.initContainers = [...inits, proxyInitContainer(config, port)];
    const containers = spec.containers ?? [];
    if (!containers.some((c) => c.name === PROXY_CONTAINER)) spec.containers = [proxyContainer(config, port), ...containers];
  }
  const expirationSeconds = tokenExpiration(pod, sa);
  const saAnnotations = sa.metadata.annotations ?? {};
  const tenantId = TENANT_ID_ANNOTATION in saAnnotations ? saAnnotations[TENANT_ID_ANNOTATION] : config.tenantId;
  const env: EnvVar[] = [
    { name: "AZURE_CLIENT_ID", value: saAnnotations[CLIENT_ID_ANNOTATION] ?? "" },
    { name: "AZURE_TENANT_ID", value: tenantId },
    { name: "AZURE_FEDERATED_TOKEN_FILE", value: TOKEN_FILE },
    { name: "AZURE_AUTHORITY_HOST", value: config.authorityHost },
  ];
  const skip = new Set((annotations[SKIP_CONTAINERS_ANNOTATION] ?? "").split(";").map((s) => s.trim()).filter(Boolean));
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) if (!skip.has(c.name)) mutateContainer(c, env);
  if (!hasTokenVolume(spec)) {
    spec.volumes = [
      ...(spec.volumes ?? []),
      { name: TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { path: TOKEN_VOLUME, expirationSeconds, audience: TOKEN_AUDIENCE } }] } },
    ];
  }
}

export function workloadIdentityWebhook(config: WorkloadIdentityWebhookConfig): CreateAdmission {
  return (rt, object, storage) => {
    // The add-on's MutatingWebhookConfiguration: pods, on CREATE, with the label as its objectSelector.
    if (rt.group !== "" || rt.kind !== "Pod" || !config.enabled()) return;
    if (object.metadata.labels?.[USE_LABEL] !== "true") return;
    try {
      mutate(config, object, storage);
    } catch (err) {
      if (err instanceof Denied) throw Errors.admissionDenied(WEBHOOK_NAME, 400, err.message);
      throw err;
    }
  };
}
