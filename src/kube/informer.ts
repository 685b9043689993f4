import { setTimeout as sleep } from "node:timers/promises";
import { makeInformer, type KubernetesListObject, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "../util/logger.js";
import type { KubeSession } from "./session.js";

/** A resource watched cluster-wide: its apiVersion, kind and collection path. */
export interface WatchedKind {
  apiVersion: string;
  kind: string;
  /** e.g. /api/v1/pods or /apis/aadpodidentity.k8s.io/v1/azureidentities */
  path: string;
}

export const POD_KIND: WatchedKind = { apiVersion: "v1", kind: "Pod", path: "/api/v1/pods" };
export const NODE_KIND: WatchedKind = { apiVersion: "v1", kind: "Node", path: "/api/v1/nodes" };

export type InformerEvent = "add" | "update" | "delete";

/** A local cache of one kind, kept current by list + watch. */
export interface Cache<T extends KubernetesObject> {
  readonly kind: WatchedKind;
  list(): T[];
  get(name: string, namespace?: string): T | undefined;
  stop(): Promise<void>;
}

/**
 * Starts a list+watch cache (client-node's informer) and resolves once the first list has succeeded.
 * client-node restarts the watch itself after timeouts and 410 Gone, but stops for good on any other error:
 * this restarts it from its error handler with capped exponential backoff, until stop().
 */
export async function startCache<T extends KubernetesObject>(
  kube: KubeSession,
  kind: WatchedKind,
  onEvent: (event: InformerEvent, object: T) => void,
  logger: Logger,
  options: { maxBackoffMs?: number } = {},
): Promise<Cache<T>> {
  const list = async (): Promise<KubernetesListObject<T>> => kube.objects.list<T>(kind.apiVersion, kind.kind) as Promise<KubernetesListObject<T>>;
  const informer = makeInformer<T>(kube.config, kind.path, list);
  let stopped = false;
  let initialized = false;
  let failures = 0;
  let lastError: unknown;
  informer.on("add", (o) => onEvent("add", o));
  informer.on("update", (o) => onEvent("update", o));
  informer.on("delete", (o) => onEvent("delete", o));
  informer.on("error", (err) => {
    lastError = err;
    // Before the first list has succeeded, the start-up loop below retries.
    if (stopped || !initialized) return;
    failures++;
    const delay = Math.min(options.maxBackoffMs ?? 30_000, 200 * 2 ** Math.min(failures - 1, 10));
    logger.warn(`watch of ${kind.kind} failed (${describe(err)}); restarting in ${delay} ms`);
    setTimeout(() => {
      if (!stopped) void informer.start().then(() => (lastError === undefined ? (failures = 0) : undefined));
    }, delay).unref();
    lastError = undefined;
  });

  // The first list must succeed before the cache means anything; keep trying (bounded backoff) until stopped.
  for (let attempt = 0; ; attempt++) {
    lastError = undefined;
    try {
      await informer.start();
    } catch (err) {
      lastError = err;
    }
    if (lastError === undefined || stopped) break;
    logger.warn(`listing ${kind.kind} failed (${describe(lastError)}); retrying`);
    await sleep(Math.min(5000, 200 * 2 ** attempt));
  }
  initialized = true;
  return {
    kind,
    list: () => [...informer.list()],
    get: (name, namespace) => informer.get(name, namespace),
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0];
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  return `HTTP ${String(e?.code ?? e?.statusCode ?? "error")}`;
}
