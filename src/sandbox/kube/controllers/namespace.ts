import { isKubeStatus } from "../errors.js";
import type { Store } from "../registry/store.js";
import type { CommittedWrite } from "../registry/requests.js";
import { storageKey } from "../registry/resources.js";
import { clone, isPlainObject } from "../types.js";

/**
 * The namespace controller: a namespace marked for deletion has its content deleted, and once nothing is left in
 * it, its `kubernetes` finalizer (spec.finalizers) removed, which lets the store remove it. Run inside the write
 * that triggers it (the namespace's deletion, or the last of its objects going).
 */

const MANAGER = "namespace-controller";

export class NamespaceController {
  constructor(private readonly store: Store) {}

  readonly observe = (write: CommittedWrite): void => {
    const { rt, object } = write;
    if (rt.group === "" && rt.plural === "namespaces") {
      if (write.type === "MODIFIED" && object.metadata.deletionTimestamp) this.deleteContent(object.metadata.name ?? "");
      return;
    }
    if (write.type === "DELETED" && rt.namespaced && object.metadata.namespace) this.finalizeIfEmpty(object.metadata.namespace);
  };

  private deleteContent(namespace: string): void {
    for (const t of this.store.registry.all()) {
      if (!t.namespaced || t.virtual || t.version !== (t.storageVersion ?? t.version)) continue;
      for (const o of this.store.storage.list(storageKey(t), namespace)) {
        try {
          this.store.delete(t, namespace, o.metadata.name ?? "", { propagationPolicy: "Background" });
        } catch (err) {
          // Taken with something deleted before it (its owner).
          if (!isKubeStatus(err, 404)) throw err;
        }
      }
    }
    this.finalizeIfEmpty(namespace);
  }

  /** Removes the `kubernetes` finalizer of a namespace being deleted once nothing is left in it. */
  private finalizeIfEmpty(namespace: string): void {
    const ns = this.store.storage.get("namespaces", undefined, namespace);
    if (!ns?.metadata.deletionTimestamp) return;
    const spec = isPlainObject(ns.spec) ? ns.spec : {};
    if (!Array.isArray(spec.finalizers) || !spec.finalizers.includes("kubernetes")) return;
    const nonEmpty = this.store.registry.all().some((t) => t.namespaced && this.store.storage.list(storageKey(t), namespace).length > 0);
    if (nonEmpty) return;
    const next = clone(ns);
    next.spec = { ...spec, finalizers: (spec.finalizers as string[]).filter((f) => f !== "kubernetes") };
    const namespaces = this.store.registry.byPlural("", "v1", "namespaces")!;
    this.store.update(namespaces, undefined, namespace, next, { fieldManager: MANAGER });
  }
}
