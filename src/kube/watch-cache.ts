import { AppsV1Api, CoreV1Api, CustomObjectsApi, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Pod, type V1ReplicaSet } from "@kubernetes/client-node";
import { AAD_POD_IDENTITY_GROUP, type AzureAssignedIdentity, type AzureIdentity, type AzurePodIdentityException } from "./aadpodidentity.js";

/**
 * A list+watch cache of one kind that keeps itself alive. client-node 1.4's informer stops for good on any
 * error other than 410/timeout, so the error handler restarts it with capped backoff. Listeners are told only
 * "something changed": they re-read the cache (level-triggered); `onEvent` gets each object as it changes.
 */
export interface WatchCache<T> {
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** True once a list has landed (the watch may be reconnecting since). */
  synced(): boolean;
  /** Resolves after the first list attempt; a failed one is retried in the background (see synced()). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Called after every add/update/delete/re-list; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

export interface WatchCacheOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Told about every informer failure (the restart follows). */
  onError?: (err: unknown, restartInMs: number) => void;
  /** Cap of the restart backoff (default 10 s). */
  maxBackoffMs?: number;
}

export type InformerEvent = "add" | "update" | "delete";

export function watchCache<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  listFn: () => Promise<KubernetesListObject<T>>,
  options: WatchCacheOptions & { onEvent?: (event: InformerEvent, object: T) => void } = {},
): WatchCache<T> {
  const informer = new ListWatch<T>(path, new Watch(kc), listFn, false, options.labelSelector, options.fieldSelector);
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  let stopped = false;
  let failures = 0;
  let lastFailure = 0;
  let timer: NodeJS.Timeout | undefined;
  for (const verb of ["add", "update", "delete"] as const) {
    informer.on(verb, (object) => {
      options.onEvent?.(verb, object);
      notify();
    });
  }
  informer.on("connect", notify);
  informer.on("error", (err) => {
    if (stopped) return;
    // "connect" fires before the list that may fail again, so the backoff resets only after a quiet spell.
    if (Date.now() - lastFailure > 30_000) failures = 0;
    lastFailure = Date.now();
    const delay = Math.min(options.maxBackoffMs ?? 10_000, 200 * 2 ** Math.min(failures++, 10));
    options.onError?.(err, delay);
    timer = setTimeout(() => {
      if (!stopped) informer.start().then(notify, () => undefined);
    }, delay);
  });
  return {
    list: () => informer.list(),
    get: (name, namespace) => informer.get(name, namespace),
    synced: () => Boolean(informer.latestResourceVersion()),
    async start() {
      await informer.start();
      notify();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      listeners.clear();
      await informer.stop();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function customCache<T extends KubernetesObject>(kc: KubeConfig, plural: string, options: WatchCacheOptions): WatchCache<T> {
  const api = kc.makeApiClient(CustomObjectsApi);
  return watchCache<T>(
    kc,
    `/apis/${AAD_POD_IDENTITY_GROUP}/v1/${plural}`,
    () => api.listClusterCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", plural, labelSelector: options.labelSelector }) as Promise<KubernetesListObject<T>>,
    options,
  );
}

/** The pods scheduled on one node, in all namespaces (field selector spec.nodeName). */
export function podsOnNode(kc: KubeConfig, node: string, options: Omit<WatchCacheOptions, "fieldSelector" | "labelSelector"> = {}): WatchCache<V1Pod> {
  const api = kc.makeApiClient(CoreV1Api);
  const fieldSelector = `spec.nodeName=${node}`;
  return watchCache<V1Pod>(kc, "/api/v1/pods", () => api.listPodForAllNamespaces({ fieldSelector }), { ...options, fieldSelector });
}

/** The AzureAssignedIdentities MIC labelled for one node (label nodename=<node>), all namespaces. */
export function assignedIdentitiesOnNode(kc: KubeConfig, node: string, options: Omit<WatchCacheOptions, "fieldSelector" | "labelSelector"> = {}): WatchCache<AzureAssignedIdentity> {
  return customCache<AzureAssignedIdentity & KubernetesObject>(kc, "azureassignedidentities", { ...options, labelSelector: `nodename=${node}` });
}

/** All AzurePodIdentityExceptions. */
export function podIdentityExceptions(kc: KubeConfig, options: Omit<WatchCacheOptions, "fieldSelector" | "labelSelector"> = {}): WatchCache<AzurePodIdentityException> {
  return customCache<AzurePodIdentityException & KubernetesObject>(kc, "azurepodidentityexceptions", options);
}

/** All AzureIdentities, cluster-wide (NMI fences exception pods off every identity one of them names). */
export function azureIdentities(kc: KubeConfig, options: Omit<WatchCacheOptions, "fieldSelector" | "labelSelector"> = {}): WatchCache<AzureIdentity> {
  return customCache<AzureIdentity & KubernetesObject>(kc, "azureidentities", options);
}

/** The ReplicaSets of one namespace (NMI follows MIC's pods to their Deployment through them). */
export function replicaSetsIn(kc: KubeConfig, namespace: string, options: Omit<WatchCacheOptions, "fieldSelector" | "labelSelector"> = {}): WatchCache<V1ReplicaSet> {
  const api = kc.makeApiClient(AppsV1Api);
  return watchCache<V1ReplicaSet>(kc, `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets`, () => api.listNamespacedReplicaSet({ namespace }), options);
}
