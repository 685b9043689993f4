/**
 * Microsoft Entra Workload Identity's contract with a cluster, as AKS's add-on (azure-workload-identity's mutating
 * webhook, v1.5.1 and v1.6) reads and writes it: the pod label that opts a pod in, the ServiceAccount and pod
 * annotations it reads, and what it injects (environment, the projected token volume, the proxy sidecar).
 */

/** Pod label: mutate this pod (the webhook's objectSelector). */
export const USE_LABEL = "azure.workload.identity/use";
/** ServiceAccount annotation: the identity's client id, injected as AZURE_CLIENT_ID. */
export const CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id";
export const TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id";
/** Pod or ServiceAccount annotation: the projected token's lifetime, 3600 to 86400 s. */
export const TOKEN_EXPIRATION_ANNOTATION = "azure.workload.identity/service-account-token-expiration";
/** Pod annotation: containers (`;`-separated) that get nothing injected. */
export const SKIP_CONTAINERS_ANNOTATION = "azure.workload.identity/skip-containers";
/** Pod annotation: add the proxy sidecar that answers IMDS-style token requests with the federated token. */
export const INJECT_PROXY_ANNOTATION = "azure.workload.identity/inject-proxy-sidecar";
export const PROXY_PORT_ANNOTATION = "azure.workload.identity/proxy-sidecar-port";

export const TOKEN_VOLUME = "azure-identity-token";
/** The audience of the projected token, which federated credentials must name. */
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";
export const PROXY_CONTAINER = "azwi-proxy";
/** The proxy sidecar's port when the pod's PROXY_PORT_ANNOTATION does not say (the webhook's and the proxy's default). */
export const DEFAULT_PROXY_PORT = 8000;

/** The variables the webhook injects, which the Azure SDKs' WorkloadIdentityCredential reads. */
export const ENV = {
  clientId: "AZURE_CLIENT_ID",
  tenantId: "AZURE_TENANT_ID",
  tokenFile: "AZURE_FEDERATED_TOKEN_FILE",
  authorityHost: "AZURE_AUTHORITY_HOST",
} as const;

/** The subject Kubernetes puts in a ServiceAccount's tokens, which a federated credential must name exactly. */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/** `az aks update` that switches on what workload identity needs on the cluster. */
export function enableWorkloadIdentityCommand(resourceGroup: string, cluster: string): string {
  return `az aks update -g ${resourceGroup} -n ${cluster} --enable-oidc-issuer --enable-workload-identity`;
}

type PodLike = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    containers?: { name: string; env?: { name: string; value?: string }[]; volumeMounts?: { name: string; mountPath: string }[] }[];
    volumes?: { name: string; projected?: { sources?: { serviceAccountToken?: { audience?: string; path: string } }[] } }[];
  };
};

/** The value of a variable a container sets, if it sets it. */
export function envOf(container: { env?: { name: string; value?: string }[] }, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

/**
 * What keeps a pod labelled for workload identity from using it, as its spec shows (undefined when nothing does):
 * the webhook did not inject (no AZURE_FEDERATED_TOKEN_FILE, no projected token of the exchange's audience), the
 * ServiceAccount named no client id, a client id other than the one expected, or a missing proxy sidecar.
 */
export function injectionProblem(pod: PodLike, expect: { clientId?: string; proxy?: boolean } = {}): string | undefined {
  const containers = pod.spec?.containers ?? [];
  const injected = containers.filter((c) => envOf(c, ENV.tokenFile));
  if (!injected.length) return `no container has ${ENV.tokenFile}: the workload identity webhook did not mutate the pod`;
  const projected = (pod.spec?.volumes ?? []).some((v) => (v.projected?.sources ?? []).some((s) => s.serviceAccountToken?.audience === TOKEN_EXCHANGE_AUDIENCE));
  if (!projected) return `the pod has no projected service account token with audience ${TOKEN_EXCHANGE_AUDIENCE}`;
  const clientIds = [...new Set(injected.map((c) => envOf(c, ENV.clientId) ?? ""))];
  if (clientIds.includes("")) return `${ENV.clientId} is not set: its ServiceAccount has no ${CLIENT_ID_ANNOTATION} annotation`;
  if (expect.clientId && !clientIds.includes(expect.clientId)) return `${ENV.clientId} is ${clientIds.join(", ")}, not ${expect.clientId}`;
  if (expect.proxy && !containers.some((c) => c.name === PROXY_CONTAINER)) return `the pod has no ${PROXY_CONTAINER} sidecar (annotation ${INJECT_PROXY_ANNOTATION})`;
  return undefined;
}
