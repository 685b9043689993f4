import { isDeepStrictEqual } from "node:util";
import { randomUUID } from "node:crypto";
import jsonPatch from "fast-json-patch";
import { Errors, isKubeStatus, type FieldError } from "../errors.js";
import { jsonMergePatch } from "../patch/merge.js";
import { recordUpdate, serverSideApply, type Scope } from "../patch/apply.js";
import { strategicMerge } from "../patch/strategic.js";
import { storageKey, type ResourceRegistry } from "./resources.js";
import { matchesFields, matchesRequirements, parseFieldSelector, parseLabelSelector } from "../selectors.js";
import type { Storage, StoredEvent, WatchEventType } from "../storage.js";
import type { Admission, DeleteOptions, DeleteResult, ListOptions, ListResult, PatchOptions, PatchType, StoreObserver, WatchEvent, WatchOptions, WriteOptions } from "./requests.js";
import type { KubeObject } from "../types.js";
import type { ResourceType } from "./resources.js";
import { apiVersionOf, clone, isPlainObject, kubeTime, SAFE_ALPHABET } from "../types.js";
import { validateMetadata } from "../validation.js";

/**
 * The generic store, as kube-apiserver's registry has one (`generic/registry/store.go`): create, get, list, update,
 * patch (JSON, merge, strategic, server-side apply), delete and watch, the same for every kind. It owns what every
 * kind shares — typemeta and namespace checks, name generation, optimistic concurrency, the status/main split,
 * metadata.generation, managedFields, finalizers and graceful deletion — and asks the kind's strategy
 * (`rt.strategy`, kinds/) for the rest. Mutating admission runs on every create before validation. Observers (the
 * sandbox's garbage collector, namespace and ServiceAccount controllers) hear of every committed write.
 */

/** The finalizers the store adds for a propagation policy; the garbage collector acts on them. */
export const FOREGROUND_FINALIZER = "foregroundDeletion";
export const ORPHAN_FINALIZER = "orphan";

const now = () => kubeTime();

function randomSuffix(): string {
  let s = "";
  for (let i = 0; i < 5; i++) s += SAFE_ALPHABET[Math.floor(Math.random() * SAFE_ALPHABET.length)];
  return s;
}

export function groupResource(rt: ResourceType): { group: string; resource: string } {
  return { group: rt.group, resource: rt.plural };
}

function contentEqual(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const c = clone(o);
    delete c.metadata.resourceVersion;
    for (const e of c.metadata.managedFields ?? []) e.time = "";
    return c;
  };
  // Key order differs between a merged apply and the stored object; equality must not depend on it.
  return isDeepStrictEqual(strip(a), strip(b));
}

/** Everything but metadata and status: what metadata.generation counts changes of. */
function specContent(o: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

function scopeOf(rt: ResourceType, subresource: string | undefined): Scope {
  return subresource === "status" ? "status" : rt.statusSubresource ? "main" : "whole";
}

export class Store {
  private readonly observers: StoreObserver[] = [];

  constructor(
    readonly storage: Storage,
    readonly registry: ResourceRegistry,
    private readonly admission: Admission[],
  ) {}

  /** Adds an observer of committed writes (the synchronous controllers). */
  observe(observer: StoreObserver): void {
    this.observers.push(observer);
  }

  private committed(type: WatchEventType, rt: ResourceType, object: KubeObject): void {
    if (type === "ADDED") rt.strategy.afterCreate?.(object);
    else if (type === "MODIFIED") rt.strategy.afterUpdate?.(object);
    else rt.strategy.afterDelete?.(object);
    for (const observer of this.observers) observer({ type, rt, object: clone(object) });
  }

  private namespaceOf(rt: ResourceType, namespace: string | undefined): string | undefined {
    return rt.namespaced ? namespace : undefined;
  }

  /** Stored objects carry the storage version; each is served in the version asked for (conversion None). */
  private served(rt: ResourceType, o: KubeObject): KubeObject {
    o.apiVersion = apiVersionOf(rt);
    o.kind = rt.kind;
    return o;
  }

  private stored(rt: ResourceType, o: KubeObject): KubeObject {
    o.apiVersion = rt.storageVersion ? `${rt.group}/${rt.storageVersion}` : apiVersionOf(rt);
    return o;
  }

  /** A stored object as reads see it (the kind's decoding from storage), still in the storage version. */
  private decoded(rt: ResourceType, o: KubeObject): KubeObject {
    return rt.strategy.fromStorage?.(o) ?? o;
  }

  /** The stored object as reads see it, in the storage version, or undefined. */
  lookup(rt: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.storage.get(storageKey(rt), this.namespaceOf(rt, namespace), name);
    return found && this.decoded(rt, found);
  }

  get(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const found = this.lookup(rt, namespace, name);
    if (!found) throw Errors.notFound(groupResource(rt), name);
    return this.served(rt, found);
  }

  private filter(rt: ResourceType, opts: { labelSelector?: string; fieldSelector?: string }): (o: KubeObject) => boolean {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, rt.strategy.selectableFields, rt.strategy.custom === true);
    return (o) => matchesRequirements(labels, o.metadata.labels) && matchesFields(fields, o);
  }

  list(rt: ResourceType, opts: ListOptions = {}): ListResult {
    const match = this.filter(rt, opts);
    let items = this.storage
      .list(storageKey(rt), this.namespaceOf(rt, opts.namespace))
      .map((o) => this.decoded(rt, o))
      .filter(match);
    if (opts.continue) {
      let after: string;
      try {
        after = (JSON.parse(Buffer.from(opts.continue, "base64url").toString("utf8")) as { start: string }).start;
      } catch {
        throw Errors.badRequest("continue key is not valid: illegal base64 data at input byte 0");
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ""}/${o.metadata.name}` > after);
    }
    const result: ListResult = { items, resourceVersion: String(this.storage.revision) };
    if (opts.limit && opts.limit > 0 && items.length > opts.limit) {
      const page = items.slice(0, opts.limit);
      const last = page[page.length - 1];
      result.items = page;
      result.continue = Buffer.from(JSON.stringify({ rv: this.storage.revision, start: `${last.metadata.namespace ?? ""}/${last.metadata.name}` })).toString("base64url");
      result.remainingItemCount = items.length - opts.limit;
    }
    result.items = result.items.map((o) => this.served(rt, o));
    return result;
  }

  /** The body must be of the kind the path serves (400 as kube-apiserver answers it). */
  private checkTypeMeta(rt: ResourceType, body: KubeObject): void {
    if (!isPlainObject(body)) throw Errors.badRequest("the body of the request was not an object");
    if (!isPlainObject(body.metadata)) body.metadata = {};
    const apiVersion = apiVersionOf(rt);
    if (body.apiVersion === undefined && body.kind === undefined) {
      body.apiVersion = apiVersion;
      body.kind = rt.kind;
    }
    if (typeof body.kind !== "string" || !body.kind) throw Errors.badRequest("Object 'Kind' is missing in the request body");
    if (body.apiVersion !== apiVersion) {
      throw Errors.badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersion})`);
    }
    if (body.kind !== rt.kind) throw Errors.badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${rt.kind})`);
  }

  private checkNamespace(rt: ResourceType, namespace: string | undefined, body: KubeObject): void {
    if (!rt.namespaced) {
      delete body.metadata.namespace;
      return;
    }
    if (body.metadata.namespace && body.metadata.namespace !== namespace) {
      throw Errors.badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
    body.metadata.namespace = namespace;
  }

  private checkName(name: string, body: KubeObject): void {
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw Errors.badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    body.metadata.name = name;
  }

  /** Decoding, then validation: metadata, the kind's own rules, and finalizers of an object being deleted. */
  private validated(rt: ResourceType, o: KubeObject, old: KubeObject | undefined, fieldValidation?: string): KubeObject {
    const out = rt.strategy.decode?.(o, fieldValidation) ?? o;
    const errs: FieldError[] = [...validateMetadata(rt.strategy.validateName, out), ...(rt.strategy.validate?.(out) ?? []), ...(old ? (rt.strategy.validateUpdate?.(out, old) ?? []) : [])];
    if (old?.metadata.deletionTimestamp) {
      const before = new Set(old.metadata.finalizers ?? []);
      if ((out.metadata.finalizers ?? []).some((f) => !before.has(f))) {
        errs.push({ type: "FieldValueForbidden", field: "metadata.finalizers", detail: "no new finalizers can be added if the object is being deleted" });
      }
    }
    if (errs.length) throw Errors.invalid({ group: rt.group, kind: rt.kind }, o.metadata.name ?? "", errs);
    return out;
  }

  private writeContext(rt: ResourceType, manager: string, subresource?: string) {
    return { manager, apiVersion: apiVersionOf(rt), subresource, rules: rt.listRules, now: now() };
  }

  /**
   * A new object as it will be stored: what creation owns (name from generateName, uid, timestamps, generation,
   * no status where a status subresource keeps it), the kind's defaults, mutating admission, validation.
   */
  private prepareCreate(rt: ResourceType, namespace: string | undefined, body: KubeObject, opts: WriteOptions): KubeObject {
    this.checkTypeMeta(rt, body);
    this.checkNamespace(rt, namespace, body);
    const meta = body.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    for (const k of ["uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"]) delete meta[k];
    meta.creationTimestamp = now();
    meta.uid = randomUUID();
    if (rt.generation) meta.generation = 1;
    else delete meta.generation;
    if (rt.statusSubresource) delete body.status;
    rt.strategy.prepareForCreate?.(body);
    if (this.admission.length) {
      for (const admit of this.admission) admit(rt, body);
      rt.strategy.prepareForCreate?.(body);
    }
    return this.validated(rt, body, undefined, opts.fieldValidation);
  }

  /** Stores a prepared new object (409 if the name is taken). */
  private insert(rt: ResourceType, body: KubeObject, opts: WriteOptions): KubeObject {
    if (this.lookup(rt, body.metadata.namespace, body.metadata.name ?? "")) throw Errors.alreadyExists(groupResource(rt), body.metadata.name ?? "");
    if (opts.dryRun) return this.served(rt, body);
    const stored = this.storage.put(storageKey(rt), this.stored(rt, body));
    this.committed("ADDED", rt, stored);
    return this.served(rt, stored);
  }

  create(rt: ResourceType, namespace: string | undefined, input: KubeObject, opts: WriteOptions = {}): KubeObject {
    if (rt.virtual) throw Errors.methodNotAllowed();
    const manager = opts.fieldManager ?? "unknown";
    const body = this.prepareCreate(rt, namespace, clone(input), opts);
    body.metadata.managedFields = recordUpdate(undefined, body, "whole", this.writeContext(rt, manager));
    return this.insert(rt, body, opts);
  }

  /**
   * Writes `next` over `live`: optimistic concurrency, status/main separation, generation, managedFields,
   * and finishing a deletion when the last finalizer goes.
   */
  private write(rt: ResourceType, live: KubeObject, next: KubeObject, opts: WriteOptions, managedFields: "record" | "given"): KubeObject {
    const name = live.metadata.name ?? "";
    const wanted = next.metadata.resourceVersion;
    if (wanted && wanted !== live.metadata.resourceVersion) throw Errors.staleResourceVersion(groupResource(rt), name);
    const status = opts.subresource === "status";
    let out: KubeObject;
    if (status) {
      out = clone(live);
      if (next.status === undefined) delete out.status;
      else out.status = next.status;
    } else {
      out = clone(next);
      if (rt.statusSubresource) {
        if (live.status === undefined) delete out.status;
        else out.status = live.status;
      }
      for (const k of ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "name", "namespace"]) {
        if (live.metadata[k] === undefined) delete out.metadata[k];
        else out.metadata[k] = live.metadata[k];
      }
    }
    out.apiVersion = live.apiVersion;
    out.kind = live.kind;
    if (!status) rt.strategy.prepareForUpdate?.(out, live);
    out = this.validated(rt, out, live, opts.fieldValidation);
    if (rt.generation && !isDeepStrictEqual(specContent(out), specContent(live))) out.metadata.generation = (live.metadata.generation ?? 0) + 1;
    if (managedFields === "record") {
      out.metadata.managedFields = recordUpdate(live, out, scopeOf(rt, opts.subresource), this.writeContext(rt, opts.fieldManager ?? "unknown", opts.subresource));
    }
    if (contentEqual(out, live)) return this.served(rt, live);
    out.metadata.resourceVersion = live.metadata.resourceVersion;
    if (opts.dryRun) return this.served(rt, out);
    if (out.metadata.deletionTimestamp && this.finalizersOf(rt, out).length === 0) return this.served(rt, this.finishDelete(rt, out));
    const stored = this.storage.put(storageKey(rt), this.stored(rt, out));
    this.committed("MODIFIED", rt, stored);
    return this.served(rt, stored);
  }

  update(rt: ResourceType, namespace: string | undefined, name: string, input: KubeObject, opts: WriteOptions = {}): KubeObject {
    const body = clone(input);
    this.checkTypeMeta(rt, body);
    this.checkName(name, body);
    this.checkNamespace(rt, namespace, body);
    const live = this.lookup(rt, namespace, name);
    if (!live) throw Errors.notFound(groupResource(rt), name);
    return this.write(rt, live, body, opts, "record");
  }

  patch(rt: ResourceType, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: PatchOptions = {}): KubeObject {
    if (type === "apply") return this.apply(rt, namespace, name, patch, opts);
    if (opts.force) {
      throw Errors.invalid({ group: "meta.k8s.io", kind: "PatchOptions" }, "", [{ type: "FieldValueForbidden", field: "force", detail: "may not be specified for non-apply patch" }]);
    }
    const live = this.lookup(rt, namespace, name);
    if (!live) throw Errors.notFound(groupResource(rt), name);
    const current = this.served(rt, clone(live));
    let next: unknown;
    if (type === "merge") next = jsonMergePatch(current, patch);
    else if (type === "strategic") {
      if (rt.crdName) throw Errors.unsupportedMediaType("application/strategic-merge-patch+json", ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]);
      next = strategicMerge(current, patch, "", rt.listRules);
    } else {
      if (!Array.isArray(patch)) throw Errors.badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
      try {
        next = jsonPatch.applyPatch(clone(current), patch as jsonPatch.Operation[], true, false).newDocument;
      } catch (err) {
        const e = err as { name?: string; message?: string };
        if (e.name === "TEST_OPERATION_FAILED") throw Errors.invalid({ group: rt.group, kind: rt.kind }, name, [{ type: "FieldValueInvalid", field: "", value: "", detail: "the server rejected our request due to an error in our request" }]);
        throw Errors.internal(`jsonpatch ${String(e.message ?? err).split("\n")[0]}`);
      }
    }
    if (!isPlainObject(next)) throw Errors.badRequest("the patch did not produce an object");
    const body = next as KubeObject;
    if (!isPlainObject(body.metadata)) body.metadata = {};
    // A patch that does not name a resourceVersion applies to whatever is live (no conflict).
    const patchMeta = isPlainObject(patch) && isPlainObject(patch.metadata) ? patch.metadata : undefined;
    if (type !== "json" && !patchMeta?.resourceVersion) body.metadata.resourceVersion = live.metadata.resourceVersion;
    this.checkTypeMeta(rt, body);
    if (body.metadata.name !== name) throw Errors.badRequest(`the name of the object (${String(body.metadata.name)}) does not match the name on the URL (${name})`);
    return this.write(rt, live, body, opts, "record");
  }

  private apply(rt: ResourceType, namespace: string | undefined, name: string, patch: unknown, opts: PatchOptions): KubeObject {
    if (!opts.fieldManager) {
      throw Errors.invalid({ group: "meta.k8s.io", kind: "PatchOptions" }, "", [{ type: "FieldValueRequired", field: "fieldManager", detail: "is required for apply patch" }]);
    }
    if (!isPlainObject(patch)) throw Errors.badRequest("couldn't get version/kind; json parse error: the applied configuration is not an object");
    const applied = clone(patch) as KubeObject;
    this.checkTypeMeta(rt, applied);
    this.checkName(name, applied);
    this.checkNamespace(rt, namespace, applied);
    const live = this.lookup(rt, namespace, name);
    const scope = scopeOf(rt, opts.subresource);
    const ctx = { ...this.writeContext(rt, opts.fieldManager, opts.subresource), live: live ? this.served(rt, clone(live)) : undefined, applied, force: opts.force ?? false, scope };
    if (!live) {
      if (scope === "status") throw Errors.notFound(groupResource(rt), name);
      const merged = serverSideApply(ctx);
      const prepared = this.prepareCreate(rt, namespace, clone(merged), opts);
      prepared.metadata.managedFields = merged.metadata.managedFields;
      return this.insert(rt, prepared, opts);
    }
    const requestedVersion = applied.metadata.resourceVersion;
    const merged = serverSideApply(ctx);
    merged.metadata.resourceVersion = requestedVersion ?? live.metadata.resourceVersion;
    return this.write(rt, live, merged, opts, "given");
  }

  /** Everything that holds an object's deletion: its finalizers and those its kind adds (a namespace's). */
  private finalizersOf(rt: ResourceType, o: KubeObject): string[] {
    return [...(o.metadata.finalizers ?? []), ...(rt.strategy.deletionFinalizers?.(o) ?? [])];
  }

  delete(rt: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): DeleteResult {
    const live = this.lookup(rt, namespace, name);
    if (!live) throw Errors.notFound(groupResource(rt), name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== live.metadata.uid) {
      throw Errors.conflict(groupResource(rt), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${live.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== live.metadata.resourceVersion) {
      throw Errors.conflict(groupResource(rt), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${live.metadata.resourceVersion}`);
    }
    rt.strategy.checkDelete?.(live);
    if (opts.dryRun) return { object: this.served(rt, live), deleted: true };
    const holding = this.finalizersOf(rt, live);
    const grace = rt.strategy.gracePeriodSeconds?.(live, opts.gracePeriodSeconds) ?? 0;
    if (live.metadata.deletionTimestamp) {
      const current = live.metadata.deletionGracePeriodSeconds as number | undefined;
      // A shorter grace period shortens a graceful deletion under way (kubectl delete --grace-period, --force).
      if (current === undefined || grace >= current) return { object: this.served(rt, live), deleted: false };
      if (grace === 0 && holding.length === 0) return { object: this.served(rt, this.finishDelete(rt, live)), deleted: true };
      return { object: this.served(rt, this.markGraceful(rt, live, grace)), deleted: false, graceful: true };
    }
    if (grace > 0) return { object: this.served(rt, this.markGraceful(rt, live, grace)), deleted: false, graceful: true };
    // The garbage collector's finalizers (deletionFinalizersForGarbageCollection): it deletes the dependents first
    // (Foreground) or releases them (Orphan), then removes its finalizer. Background needs none: the collector
    // deletes the dependents once the owner is gone.
    const finalizers = new Set(live.metadata.finalizers ?? []);
    if (opts.propagationPolicy === "Foreground") finalizers.add(FOREGROUND_FINALIZER);
    if (opts.propagationPolicy === "Orphan") finalizers.add(ORPHAN_FINALIZER);
    if (finalizers.size === 0 && holding.length === 0) return { object: this.served(rt, this.finishDelete(rt, live)), deleted: true };
    const marked = clone(live);
    marked.metadata.deletionTimestamp = now();
    marked.metadata.deletionGracePeriodSeconds = 0;
    if (finalizers.size) marked.metadata.finalizers = [...finalizers];
    rt.strategy.prepareForDelete?.(marked);
    const stored = this.storage.put(storageKey(rt), marked);
    this.committed("MODIFIED", rt, stored);
    const after = this.lookup(rt, namespace, name);
    return { object: this.served(rt, after ?? stored), deleted: after === undefined };
  }

  /**
   * Graceful deletion (pods): the object stays, marked to go `grace` seconds from now; its node's kubelet stops
   * the containers and then deletes it with a grace period of 0. Each mark is a modification watchers see.
   */
  private markGraceful(rt: ResourceType, live: KubeObject, grace: number): KubeObject {
    const marked = clone(live);
    marked.metadata.deletionTimestamp = kubeTime(Date.now() + grace * 1000);
    marked.metadata.deletionGracePeriodSeconds = grace;
    marked.metadata.generation = ((live.metadata.generation as number | undefined) ?? 0) + 1;
    const stored = this.storage.put(storageKey(rt), marked);
    this.committed("MODIFIED", rt, stored);
    return stored;
  }

  deleteCollection(rt: ResourceType, opts: ListOptions, deleteOpts: DeleteOptions = {}): KubeObject[] {
    const { items } = this.list(rt, { namespace: opts.namespace, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
    const out: KubeObject[] = [];
    for (const o of items) {
      try {
        out.push(this.delete(rt, o.metadata.namespace, o.metadata.name ?? "", deleteOpts).object);
      } catch (err) {
        // Gone already (garbage collected with an earlier item): deletecollection ignores it, as kube does.
        if (!isKubeStatus(err, 404)) throw err;
      }
    }
    return out;
  }

  /** Removes the object now; observers (the garbage collector) act on what it owned. */
  private finishDelete(rt: ResourceType, o: KubeObject): KubeObject {
    const gone = this.storage.remove(storageKey(rt), o);
    this.committed("DELETED", rt, gone);
    return gone;
  }

  /**
   * Streams events for a resource. Unset or "0" starts with the current objects as ADDED; otherwise replays from
   * the revision (410 Expired when too old). Filtered watches see objects enter (ADDED) and leave (DELETED).
   */
  watch(rt: ResourceType, opts: WatchOptions, sink: (event: WatchEvent) => void): () => void {
    const match = this.filter(rt, opts);
    const namespace = this.namespaceOf(rt, opts.namespace);
    const inScope = (o: KubeObject | undefined) => o !== undefined && (namespace === undefined || o.metadata.namespace === namespace) && match(o);
    const rv = opts.resourceVersion;
    let from: number;
    if (!rv || rv === "0") {
      from = this.storage.revision;
      for (const o of this.storage.list(storageKey(rt), namespace)) if (match(o)) sink({ type: "ADDED", object: this.served(rt, this.decoded(rt, o)) });
    } else {
      from = Number(rv);
      if (!Number.isInteger(from) || from < 0) throw Errors.badRequest(`invalid resource version: ${rv}`);
    }
    return this.storage.subscribe(storageKey(rt), from, (e: StoredEvent) => {
      const current = inScope(e.object);
      const before = e.type === "MODIFIED" ? inScope(e.previous) : current;
      let type: WatchEventType | undefined = e.type;
      if (e.type === "MODIFIED" && current && !before) type = "ADDED";
      else if (e.type === "MODIFIED" && !current && before) type = "DELETED";
      else if (!current) type = undefined;
      if (type) sink({ type, object: this.served(rt, this.decoded(rt, clone(e.object))) });
    });
  }
}
