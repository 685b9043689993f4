import { Errors } from "./errors.js";
import type { JsonStore } from "../store.js";
import type { KubeObject } from "./types.js";
import { clone } from "./types.js";

/**
 * Object storage as etcd gives it to kube-apiserver: one global, monotonically increasing revision that
 * every write takes, a bounded window of past events that watches resume from, and fan-out to live watches.
 * Objects are kept per resource bucket (`pods`, `deployments.apps`) under `namespace/name`.
 */

export interface KubeState {
  version: 1;
  /** The last revision handed out. */
  resourceVersion: number;
  objects: Record<string, Record<string, KubeObject>>;
  adminToken: string;
  /** `namespace/name` of a ServiceAccount -> its bearer token. */
  serviceAccountTokens: Record<string, string>;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoredEvent {
  revision: number;
  bucket: string;
  type: WatchEventType;
  object: KubeObject;
  /** The object before the change (for MODIFIED and DELETED), so filtered watches can see objects leave. */
  previous?: KubeObject;
}

export type StoredEventListener = (event: StoredEvent) => void;

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

export class Storage {
  private readonly history: StoredEvent[] = [];
  /** Watches from a revision below this are answered 410 Expired. */
  private compactedRevision: number;
  private readonly listeners = new Set<{ bucket: string; listener: StoredEventListener }>();

  constructor(
    private readonly store: JsonStore<KubeState>,
    private readonly historyLimit: number,
  ) {
    // History is not persisted: after a restart only watches from the current revision can resume, as after
    // an etcd compaction.
    this.compactedRevision = store.data.resourceVersion;
  }

  get revision(): number {
    return this.store.data.resourceVersion;
  }

  get state(): KubeState {
    return this.store.data;
  }

  persist(): void {
    this.store.changed();
  }

  get(bucket: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.store.data.objects[bucket]?.[objectKey(namespace, name)];
    return found ? clone(found) : undefined;
  }

  /** Objects of a bucket (one namespace, or all), ordered by namespace then name as etcd keys are. */
  list(bucket: string, namespace?: string): KubeObject[] {
    const all = this.store.data.objects[bucket] ?? {};
    const prefix = namespace === undefined ? undefined : `${namespace}/`;
    return Object.keys(all)
      .filter((k) => prefix === undefined || k.startsWith(prefix))
      .sort()
      .map((k) => clone(all[k]));
  }

  buckets(): string[] {
    return Object.keys(this.store.data.objects);
  }

  /** Writes the object with the next revision and tells watchers; returns the stored copy. */
  put(bucket: string, object: KubeObject): KubeObject {
    const revision = ++this.store.data.resourceVersion;
    const stored = clone(object);
    stored.metadata.resourceVersion = String(revision);
    const objects = (this.store.data.objects[bucket] ??= {});
    const key = objectKey(stored.metadata.namespace, stored.metadata.name ?? "");
    const previous = objects[key];
    objects[key] = stored;
    this.record({ revision, bucket, type: previous ? "MODIFIED" : "ADDED", object: clone(stored), previous: previous ? clone(previous) : undefined });
    return clone(stored);
  }

  /** Removes the object; the DELETED event carries the deletion's revision, as kube does. */
  remove(bucket: string, object: KubeObject): KubeObject {
    const key = objectKey(object.metadata.namespace, object.metadata.name ?? "");
    const objects = this.store.data.objects[bucket];
    if (!objects?.[key]) return clone(object);
    const previous = objects[key];
    delete objects[key];
    if (Object.keys(objects).length === 0) delete this.store.data.objects[bucket];
    const revision = ++this.store.data.resourceVersion;
    const gone = clone(previous);
    gone.metadata.resourceVersion = String(revision);
    this.record({ revision, bucket, type: "DELETED", object: clone(gone), previous: clone(previous) });
    return gone;
  }

  /** Drops a whole bucket without events (a CRD's objects after they were deleted one by one). */
  dropBucket(bucket: string): void {
    delete this.store.data.objects[bucket];
    this.persist();
  }

  private record(event: StoredEvent): void {
    this.history.push(event);
    while (this.history.length > this.historyLimit) {
      this.compactedRevision = this.history.shift()!.revision;
    }
    this.persist();
    for (const l of [...this.listeners]) if (l.bucket === event.bucket) l.listener(event);
  }

  /** Forgets all past events, as an etcd compaction does: older watches must relist (410). */
  compact(): void {
    this.history.length = 0;
    this.compactedRevision = this.store.data.resourceVersion;
  }

  /**
   * Subscribes to a bucket from a revision: events after it are replayed first, then live ones follow.
   * Throws 410 Expired when the window no longer holds the events after `fromRevision`.
   */
  subscribe(bucket: string, fromRevision: number, listener: StoredEventListener): () => void {
    if (fromRevision < this.compactedRevision) {
      throw Errors.expired(`too old resource version: ${fromRevision} (${this.compactedRevision + 1})`);
    }
    for (const event of this.history) if (event.bucket === bucket && event.revision > fromRevision) listener(event);
    const entry = { bucket, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }
}
