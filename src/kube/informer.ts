import { setTimeout as sleep } from "node:timers/promises";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "../util/logger.js";
import type { KubeSession } from "./session.js";
import { watchCache, type InformerEvent } from "./watch-cache.js";

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
 * then the cache means nothing, so this waits (the cache retries the list with bounded backoff) until stopped.
 */
export async function startCache<T extends KubernetesObject>(
  kube: KubeSession,
  kind: WatchedKind,
  onEvent: (event: InformerEvent, object: T) => void,
  logger: Logger,
  options: { maxBackoffMs?: number } = {},
): Promise<Cache<T>> {
  const cache = watchCache<T>(kube.watchClient, kind.path, {
    onEvent,
    maxBackoffMs: options.maxBackoffMs ?? 30_000,
    onError: (err, delay) => logger.warn(`${cache.synced() ? "watch" : "listing"} of ${kind.kind} failed (${describe(err)}); restarting in ${delay} ms`),
  });
  let stopped = false;
  await cache.start().catch(() => undefined);
  while (!cache.synced() && !stopped) await sleep(100);
  return {
    kind,
    list: () => [...cache.list()],
    get: (name, namespace) => cache.get(name, namespace),
    async stop() {
      stopped = true;
      await cache.stop();
    },
  };
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0];
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  return `HTTP ${String(e?.code ?? e?.statusCode ?? "error")}`;
}
