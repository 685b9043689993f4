import type { V1Deployment, V1Pod, V1ReplicaSet } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { AAD_POD_IDENTITY_GROUP, NODENAME_LABEL, RESOURCE_PLURALS, type AzureAssignedIdentity, type AzureIdentity, type AzurePodIdentityException } from "../aadpodidentity/types.js";
import { LiteKubeError, type LiteKubeClient, type WatchEvent } from "./lite/client.js";

/**
 * A list+watch cache of one collection that keeps itself alive. Listeners are told only "something changed": they
 * re-read the cache (level-triggered); `onEvent` gets each object as it changes.
 */
export interface WatchCache<T> {
  /** The cached objects; the same array until something changes (readers on a hot path allocate nothing). */
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /**
   * A lookup by `keyOf` (e.g. pods by address): the objects whose key is `key`, from an index built on first use
   * after each change, so lookups between changes cost one Map read.
   */
  indexBy(keyOf: (item: T) => string | undefined): (key: string) => readonly T[];
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
  /** Told about every list or watch failure (the restart follows). */
  onError?: (err: unknown, restartInMs: number) => void;
  /** Cap of the restart backoff (default 10 s). */
  maxBackoffMs?: number;
}

export type InformerEvent = "add" | "update" | "delete";

interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

const keyOf = (o: Named) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/** A watch shorter than this that delivered nothing counts as a failure (and is backed off). */
const SHORT_WATCH_MS = 1000;

/** The watch's resourceVersion is too old (410 Gone / Expired): list again. */
class Expired extends Error {}

/**
 * The WatchCache of one collection over the lean client: list, then watch from the list's resourceVersion (with
 * bookmarks), re-watch when the server ends the stream, re-list on 410, and back off on errors until stopped.
 * (client-node's informer stops for good on errors other than 410, and its models cost a node agent ~70 MiB.)
 */
export function watchCache<T extends Named>(
  client: LiteKubeClient,
  path: string,
  options: WatchCacheOptions & { onEvent?: (event: InformerEvent, object: T) => void } = {},
): WatchCache<T> {
  const store = new Map<string, T>();
  // What list() and the indexes hand out, dropped on every change and rebuilt when next asked for.
  let snapshot: readonly T[] | undefined;
  const indexes: { keyOf: (item: T) => string | undefined; built?: Map<string, T[]> }[] = [];
  const changed = () => {
    snapshot = undefined;
    for (const index of indexes) index.built = undefined;
  };
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  const selectors = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector };
  const abort = new AbortController();
  let synced = false;
  let running: Promise<void> | undefined;
  let firstAttempt: () => void = () => undefined;
  const firstDone = new Promise<void>((resolve) => (firstAttempt = resolve));

  const put = (object: T) => {
    const key = keyOf(object);
    const had = store.has(key);
    store.set(key, object);
    changed();
    options.onEvent?.(had ? "update" : "add", object);
  };
  const remove = (object: T) => {
    const key = keyOf(object);
    const old = store.get(key);
    if (!store.delete(key)) return;
    changed();
    options.onEvent?.("delete", old ?? object);
  };
  const replace = (items: T[]) => {
    const fresh = new Set(items.map(keyOf));
    for (const old of [...store.values()]) if (!fresh.has(keyOf(old))) remove(old);
    for (const item of items) put(item);
  };

  const backoff = (failures: number) => Math.min(options.maxBackoffMs ?? 10_000, 200 * 2 ** Math.min(failures, 10));
  const run = async () => {
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        const listed = await client.list<T>(path, selectors, abort.signal);
        replace(listed.items);
        let resourceVersion = listed.resourceVersion;
        synced = true;
        firstAttempt();
        notify();
        for (;;) {
          const began = Date.now();
          let heard = false;
          await client.watch<T>(
            path,
            { ...selectors, resourceVersion },
            (event: WatchEvent<T>) => {
              heard = true;
              if (event.type === "ERROR") {
                const status = event.object as { code?: number; reason?: string; message?: string };
                if (status.code === 410) throw new Expired(status.message);
                throw new LiteKubeError(status.code ?? 500, status.reason ?? "", status.message ?? "watch error");
              }
              resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
              if (event.type === "BOOKMARK") return;
              if (event.type === "DELETED") remove(event.object);
              else put(event.object);
              failures = 0;
              notify();
            },
            abort.signal,
          );
          // A watch the server ends at once with nothing in it is a failure in disguise: back off, as client-go does.
          if (!heard && Date.now() - began < SHORT_WATCH_MS) {
            const delay = backoff(failures++);
            options.onError?.(new Error(`the watch of ${path} ended at once with nothing in it`), delay);
            await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
          }
        }
      } catch (err) {
        firstAttempt();
        if (abort.signal.aborted) return;
        if (err instanceof Expired) continue;
        const delay = backoff(failures++);
        options.onError?.(err, delay);
        await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  };

  return {
    list: () => (snapshot ??= [...store.values()]),
    indexBy(keyOf) {
      const index: (typeof indexes)[number] = { keyOf };
      indexes.push(index);
      const none: readonly T[] = [];
      return (key) => {
        if (!index.built) {
          index.built = new Map();
          for (const item of store.values()) {
            const k = keyOf(item);
            if (k === undefined) continue;
            const bucket = index.built.get(k);
            if (bucket) bucket.push(item);
            else index.built.set(k, [item]);
          }
        }
        return index.built.get(key) ?? none;
      };
    },
    get: (name, namespace) => store.get(`${namespace ?? ""}/${name}`),
    synced: () => synced,
    async start() {
      running ??= run();
      await firstDone;
    },
    async stop() {
      abort.abort();
      listeners.clear();
      await running;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

type Scoped = Omit<WatchCacheOptions, "fieldSelector" | "labelSelector">;
const customPath = (plural: string) => `/apis/${AAD_POD_IDENTITY_GROUP}/v1/${plural}`;

/** The pods scheduled on one node, in all namespaces (field selector spec.nodeName). */
export function podsOnNode(client: LiteKubeClient, node: string, options: Scoped = {}): WatchCache<V1Pod> {
  return watchCache<V1Pod>(client, "/api/v1/pods", { ...options, fieldSelector: `spec.nodeName=${node}` });
}

/** The AzureAssignedIdentities MIC labelled for one node (label nodename=<node>), all namespaces. */
export function assignedIdentitiesOnNode(client: LiteKubeClient, node: string, options: Scoped = {}): WatchCache<AzureAssignedIdentity> {
  return watchCache<AzureAssignedIdentity>(client, customPath(RESOURCE_PLURALS.AzureAssignedIdentity), { ...options, labelSelector: `${NODENAME_LABEL}=${node}` });
}

/** All AzurePodIdentityExceptions. */
export function podIdentityExceptions(client: LiteKubeClient, options: Scoped = {}): WatchCache<AzurePodIdentityException> {
  return watchCache<AzurePodIdentityException>(client, customPath(RESOURCE_PLURALS.AzurePodIdentityException), options);
}

/** All AzureIdentities, cluster-wide (NMI fences exception pods off every identity one of them names). */
export function azureIdentities(client: LiteKubeClient, options: Scoped = {}): WatchCache<AzureIdentity> {
  return watchCache<AzureIdentity>(client, customPath(RESOURCE_PLURALS.AzureIdentity), options);
}

/** The Deployments of one namespace (NMI checks that MIC's ReplicaSets belong to podid's MIC Deployment). */
export function deploymentsIn(client: LiteKubeClient, namespace: string, options: Scoped = {}): WatchCache<V1Deployment> {
  return watchCache<V1Deployment>(client, `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`, options);
}

/** The ReplicaSets of one namespace (NMI follows MIC's pods to their Deployment through them). */
export function replicaSetsIn(client: LiteKubeClient, namespace: string, options: Scoped = {}): WatchCache<V1ReplicaSet> {
  return watchCache<V1ReplicaSet>(client, `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets`, options);
}
