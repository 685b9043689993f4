import { setTimeout as sleep } from "node:timers/promises";
import type { InformerEvent, WatchCache, WatchCacheOptions } from "../watch-cache.js";
import { LiteKubeError, type LiteKubeClient, type WatchEvent } from "./client.js";

interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

const keyOf = (o: Named) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/** The watch's resourceVersion is too old (410 Gone / Expired): list again. */
class Expired extends Error {}

/**
 * The WatchCache of one collection over the lean client: list, then watch from the list's resourceVersion (with
 * bookmarks), re-watch when the server ends the stream, re-list on 410, and back off on errors until stopped.
 */
export function liteWatchCache<T extends Named>(
  client: LiteKubeClient,
  path: string,
  options: WatchCacheOptions & { onEvent?: (event: InformerEvent, object: T) => void } = {},
): WatchCache<T> {
  const store = new Map<string, T>();
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
    options.onEvent?.(had ? "update" : "add", object);
  };
  const remove = (object: T) => {
    const key = keyOf(object);
    const old = store.get(key);
    if (!store.delete(key)) return;
    options.onEvent?.("delete", old ?? object);
  };
  const replace = (items: T[]) => {
    const fresh = new Set(items.map(keyOf));
    for (const old of [...store.values()]) if (!fresh.has(keyOf(old))) remove(old);
    for (const item of items) put(item);
  };

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
          await client.watch<T>(
            path,
            { ...selectors, resourceVersion, timeoutSeconds: 300 },
            (event: WatchEvent<T>) => {
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
        }
      } catch (err) {
        firstAttempt();
        if (abort.signal.aborted) return;
        if (err instanceof Expired) continue;
        const delay = Math.min(options.maxBackoffMs ?? 10_000, 200 * 2 ** Math.min(failures++, 10));
        options.onError?.(err, delay);
        await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  };

  return {
    list: () => [...store.values()],
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
