import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "../util/logger.js";
import type { KubeSession } from "./session.js";
import { watchCache, type InformerEvent, type WatchCache } from "./watch-cache.js";

/** A resource watched cluster-wide: its apiVersion, kind and collection path. */
export interface WatchedKind {
  apiVersion: string;
  kind: string;
  /** e.g. /api/v1/pods or /apis/aadpodidentity.k8s.io/v1/azureidentities */
  path: string;
}

export const POD_KIND: WatchedKind = { apiVersion: "v1", kind: "Pod", path: "/api/v1/pods" };
export const NODE_KIND: WatchedKind = { apiVersion: "v1", kind: "Node", path: "/api/v1/nodes" };

export type { InformerEvent } from "./watch-cache.js";

/** A local cache of one kind, kept current by list + watch. */
export interface Cache<T extends KubernetesObject> {
  readonly kind: WatchedKind;
  list(): T[];
  get(name: string, namespace?: string): T | undefined;
  stop(): Promise<void>;
}

/**
 * A self-restarting list+watch cache (watch-cache.ts) that resolves once its first list has succeeded: until
 * then the cache means nothing, so this waits (the cache retries the list with bounded backoff). An abort of
 * `signal` during that wait stops the cache and rejects with the signal's reason: a cache whose first list
 * never succeeds can still be stopped.
 */
export async function startCache<T extends KubernetesObject>(
  kube: KubeSession,
  kind: WatchedKind,
  onEvent: (event: InformerEvent, object: T) => void,
  logger: Logger,
  options: { maxBackoffMs?: number; signal?: AbortSignal } = {},
): Promise<Cache<T>> {
  const cache = watchCache<T>(kube.watchClient, kind.path, {
    onEvent,
    maxBackoffMs: options.maxBackoffMs ?? 30_000,
    onError: (err, delay) => logger.warn(`${cache.synced() ? "watch" : "listing"} of ${kind.kind} failed (${describe(err)}); restarting in ${delay} ms`),
  });
  await cache.start().catch(() => undefined);
  try {
    await firstSync(cache, options.signal);
  } catch (err) {
    await cache.stop();
    throw err;
  }
  return {
    kind,
    list: () => [...cache.list()],
    get: (name, namespace) => cache.get(name, namespace),
    stop: () => cache.stop(),
  };
}

/** Resolves when the cache has listed once; rejects with the signal's reason if it is aborted first. */
function firstSync(cache: WatchCache<unknown>, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  if (cache.synced()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const settle = (outcome: () => void) => {
      unsubscribe();
      signal?.removeEventListener("abort", aborted);
      outcome();
    };
    const aborted = () => settle(() => reject(signal?.reason));
    const unsubscribe = cache.onChange(() => {
      if (cache.synced()) settle(resolve);
    });
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0];
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  return `HTTP ${String(e?.code ?? e?.statusCode ?? "error")}`;
}
