import type { Cluster } from "./cluster.js";
import type { DeleteOptions, DeleteResult, ListOptions, PatchOptions, PatchType, WatchEvent, WatchOptions, WriteOptions } from "./registry/requests.js";
import { requestToken, type TokenRequestSpec } from "./token-request.js";
import type { KubeObject } from "./types.js";
import { isKubeStatus } from "./errors.js";

/**
 * In-process access to the sandbox cluster for the sandbox's own controllers (the kubelet): the same semantics
 * as over HTTP (validation, defaulting, resourceVersions, watches, garbage collection), addressed by apiVersion
 * and kind, without authentication. Failures throw `KubeError` carrying the Status a client would get.
 */

export interface KindRef {
  apiVersion: string;
  kind: string;
}

export interface ObjectRef extends KindRef {
  namespace?: string;
  name: string;
}

export class KubeStore {
  constructor(
    private readonly cluster: Cluster,
    /** The field manager for writes that do not name one. */
    private readonly manager = "podid-sandbox",
  ) {}

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.cluster.storage.revision);
  }

  get<T extends KubeObject = KubeObject>(ref: ObjectRef): T | undefined {
    const rt = this.cluster.resourceFor(ref.apiVersion, ref.kind);
    try {
      return this.cluster.store.get(rt, ref.namespace, ref.name) as T;
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject = KubeObject>(kind: KindRef, options: ListOptions = {}): { items: T[]; resourceVersion: string } {
    const result = this.cluster.store.list(this.cluster.resourceFor(kind.apiVersion, kind.kind), options);
    return { items: result.items as T[], resourceVersion: result.resourceVersion };
  }

  create<T extends KubeObject>(object: T, options: WriteOptions = {}): T {
    const rt = this.cluster.resourceFor(object.apiVersion, object.kind);
    return this.cluster.store.create(rt, object.metadata.namespace, object, { fieldManager: this.manager, ...options }) as T;
  }

  /** A full update; a metadata.resourceVersion in the object makes it conditional (409 when stale). */
  update<T extends KubeObject>(object: T, options: WriteOptions = {}): T {
    const rt = this.cluster.resourceFor(object.apiVersion, object.kind);
    return this.cluster.store.update(rt, object.metadata.namespace, object.metadata.name ?? "", object, { fieldManager: this.manager, ...options }) as T;
  }

  /** Writes only the status (the /status subresource). */
  updateStatus<T extends KubeObject>(object: T, options: WriteOptions = {}): T {
    return this.update(object, { ...options, subresource: "status" });
  }

  patch<T extends KubeObject = KubeObject>(ref: ObjectRef, type: PatchType, patch: unknown, options: PatchOptions = {}): T {
    const rt = this.cluster.resourceFor(ref.apiVersion, ref.kind);
    const fieldManager = options.fieldManager ?? this.manager;
    return this.cluster.store.patch(rt, ref.namespace, ref.name, type, patch, { ...options, fieldManager }) as T;
  }

  /** Server-side apply of a whole configuration as `fieldManager`. */
  apply<T extends KubeObject>(object: T, options: PatchOptions & { fieldManager: string }): T {
    return this.patch<T>({ apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name ?? "" }, "apply", object, options);
  }

  delete(ref: ObjectRef, options: DeleteOptions = {}): DeleteResult {
    return this.cluster.store.delete(this.cluster.resourceFor(ref.apiVersion, ref.kind), ref.namespace, ref.name, options);
  }

  /** Events for a kind; returns the function that stops them. Throws 410 Expired for a too-old resourceVersion. */
  watch(kind: KindRef, options: WatchOptions, onEvent: (event: WatchEvent) => void): () => void {
    return this.cluster.store.watch(this.cluster.resourceFor(kind.apiVersion, kind.kind), options, onEvent);
  }

  tokenForServiceAccount(namespace: string, name: string): string {
    if (!this.get({ apiVersion: "v1", kind: "ServiceAccount", namespace, name })) {
      throw new Error(`serviceaccount ${namespace}/${name} does not exist`);
    }
    return this.cluster.tokens.ensureServiceAccountToken(namespace, name);
  }

  /** TokenRequest for a ServiceAccount (what the kubelet asks for a projected token); the TokenRequest's status. */
  async requestToken(namespace: string, serviceAccount: string, spec: TokenRequestSpec): Promise<{ token: string; expirationTimestamp: string }> {
    const answer = await requestToken(this.cluster, namespace, serviceAccount, { spec });
    return answer.status as { token: string; expirationTimestamp: string };
  }

  /** Forgets past watch events, as an etcd compaction does: watches from older versions get 410 and relist. */
  compact(): void {
    this.cluster.storage.compact();
  }
}
