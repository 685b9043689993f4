import { isKubeStatus } from "../errors.js";
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER, type Store } from "../registry/store.js";
import type { CommittedWrite, PropagationPolicy } from "../registry/requests.js";
import { storageKey } from "../registry/resources.js";
import type { KubeObject } from "../types.js";
import type { ResourceType } from "../registry/resources.js";
import { apiVersionOf, clone } from "../types.js";

/**
 * The garbage collector (kube-controller-manager's), through ownerReferences: an owner deleted in the background
 * takes its dependents with it once it is gone; one deleted in the foreground (its `foregroundDeletion` finalizer)
 * goes once its dependents have; an orphaning deletion (its `orphan` finalizer) releases them first. The sandbox
 * runs it inside the write that triggers it, so a client sees the effect as soon as its request returns.
 */

const MANAGER = "generic-garbage-collector";

export class GarbageCollector {
  constructor(private readonly store: Store) {}

  /** The store's observer. */
  readonly observe = (write: CommittedWrite): void => {
    const { object } = write;
    if (write.type === "DELETED") {
      this.deleteDependents(object.metadata.uid ?? "", "Background");
      this.releaseOwners(object);
      return;
    }
    if (write.type !== "MODIFIED" || !object.metadata.deletionTimestamp) return;
    const finalizers = object.metadata.finalizers ?? [];
    if (finalizers.includes(ORPHAN_FINALIZER)) {
      this.orphanDependents(object.metadata.uid ?? "");
      this.removeFinalizer(write.rt, object, ORPHAN_FINALIZER);
    } else if (finalizers.includes(FOREGROUND_FINALIZER)) {
      this.deleteDependents(object.metadata.uid ?? "", "Foreground");
      this.releaseIfFree(write.rt, object);
    }
  };

  /** Objects (any kind) whose ownerReferences name the uid, with their resource. */
  private dependentsOf(uid: string): { rt: ResourceType; object: KubeObject }[] {
    if (!uid) return [];
    const out: { rt: ResourceType; object: KubeObject }[] = [];
    const byBucket = new Map(this.store.registry.all().map((t) => [storageKey(t), t]));
    for (const bucket of this.store.storage.buckets()) {
      const rt = byBucket.get(bucket);
      if (!rt) continue;
      for (const o of this.store.storage.list(bucket)) if ((o.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) out.push({ rt, object: o });
    }
    return out;
  }

  private deleteDependents(uid: string, policy: PropagationPolicy): void {
    for (const { rt, object } of this.dependentsOf(uid)) {
      if (!this.store.lookup(rt, object.metadata.namespace, object.metadata.name ?? "")) continue;
      try {
        this.store.delete(rt, object.metadata.namespace, object.metadata.name ?? "", { propagationPolicy: policy });
      } catch (err) {
        // Taken with an earlier dependent: nothing left to do for it.
        if (!isKubeStatus(err, 404)) throw err;
      }
    }
  }

  /** Writes a changed copy of an object through the store (as the served version the resource names). */
  private rewrite(rt: ResourceType, object: KubeObject, change: (o: KubeObject) => void): void {
    const next = clone(object);
    next.apiVersion = apiVersionOf(rt);
    change(next);
    this.store.update(rt, next.metadata.namespace, next.metadata.name ?? "", next, { fieldManager: MANAGER });
  }

  private orphanDependents(uid: string): void {
    for (const { rt, object } of this.dependentsOf(uid)) {
      this.rewrite(rt, object, (o) => {
        o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (o.metadata.ownerReferences.length === 0) delete o.metadata.ownerReferences;
      });
    }
  }

  private removeFinalizer(rt: ResourceType, object: KubeObject, finalizer: string): void {
    const live = this.store.lookup(rt, object.metadata.namespace, object.metadata.name ?? "");
    if (!live || live.metadata.uid !== object.metadata.uid || !(live.metadata.finalizers ?? []).includes(finalizer)) return;
    this.rewrite(rt, live, (o) => {
      o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      if (o.metadata.finalizers.length === 0) delete o.metadata.finalizers;
    });
  }

  /** A foreground-deleting owner goes once its last dependent has. */
  private releaseIfFree(rt: ResourceType, owner: KubeObject): void {
    if (this.dependentsOf(owner.metadata.uid ?? "").length === 0) this.removeFinalizer(rt, owner, FOREGROUND_FINALIZER);
  }

  private releaseOwners(o: KubeObject): void {
    for (const ref of o.metadata.ownerReferences ?? []) {
      const rt = this.store.registry.byKind(ref.apiVersion, ref.kind);
      if (!rt) continue;
      const owner = this.store.lookup(rt, rt.namespaced ? o.metadata.namespace : undefined, ref.name);
      if (!owner || owner.metadata.uid !== ref.uid || !owner.metadata.deletionTimestamp) continue;
      if ((owner.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER)) this.releaseIfFree(rt, owner);
    }
  }
}
