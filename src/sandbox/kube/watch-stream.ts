import { PassThrough } from "node:stream";
import type { Cluster } from "./cluster.js";
import type { WatchEvent, WatchOptions } from "./registry/requests.js";
import { KubeError } from "./errors.js";
import type { KubeObject } from "./types.js";
import type { ResourceType } from "./registry/resources.js";
import { apiVersionOf } from "./types.js";

/**
 * A watch as a chunked stream of `{"type","object"}` lines. A too-old resourceVersion answers 200 with one ERROR
 * event carrying the 410 Expired Status, then ends (what informers relist on). Bookmarks, when asked for, carry
 * the current revision; `timeoutSeconds` ends the stream as kube does.
 */

export interface WatchStreamOptions extends WatchOptions {
  timeoutSeconds?: number;
  allowBookmarks: boolean;
  bookmarkIntervalMs: number;
  /** Rewrites each event's object (Table, PartialObjectMetadata); identity by default. */
  render: (object: KubeObject, first: boolean) => unknown;
}

export class WatchHub {
  private readonly open = new Set<PassThrough>();

  start(cluster: Cluster, rt: ResourceType, opts: WatchStreamOptions, signal: AbortSignal): PassThrough {
    const stream = new PassThrough();
    let first = true;
    const send = (type: string, object: unknown) => {
      if (!stream.writableEnded) stream.write(`${JSON.stringify({ type, object })}\n`);
    };
    const onEvent = (e: WatchEvent) => {
      send(e.type, opts.render(e.object, first));
      first = false;
    };
    let stop: () => void = () => {};
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      stop();
      timers.forEach(clearTimeout);
      this.open.delete(stream);
      if (!stream.writableEnded) stream.end();
    };
    try {
      stop = cluster.store.watch(rt, opts, onEvent);
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      send("ERROR", err.status);
      stream.end();
      return stream;
    }
    this.open.add(stream);
    if (opts.allowBookmarks) {
      const bookmark = setInterval(() => {
        send("BOOKMARK", { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(cluster.storage.revision) } });
      }, opts.bookmarkIntervalMs);
      bookmark.unref();
      timers.push(bookmark);
    }
    if (opts.timeoutSeconds && opts.timeoutSeconds > 0) {
      const timeout = setTimeout(finish, opts.timeoutSeconds * 1000);
      timeout.unref();
      timers.push(timeout);
    }
    signal.addEventListener("abort", finish, { once: true });
    stream.on("close", finish);
    return stream;
  }

  /** Ends every open watch (server shutdown). */
  closeAll(): void {
    for (const s of [...this.open]) s.end();
    this.open.clear();
  }
}
