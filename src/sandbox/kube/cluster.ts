import { isDeepStrictEqual } from "node:util";
import { randomUUID } from "node:crypto";
import { TokenAuthenticator } from "./auth.js";
import { acceptedStatus, defaultCrd, pruneCustomObject, resourcesOfCrd, schemaOf, validateCrd } from "./crd.js";
import { applyCreateDefaults } from "./defaults.js";
import { Errors, isKubeStatus, type FieldError } from "./errors.js";
import { jsonMergePatch } from "./patch/merge.js";
import { recordUpdate, serverSideApply, type Scope } from "./patch/apply.js";
import { strategicMerge } from "./patch/strategic.js";
import { ResourceRegistry, storageKey, VIRTUAL_KINDS } from "./resources.js";
import { matchesFields, matchesRequirements, parseFieldSelector, parseLabelSelector } from "./selectors.js";
import type { Storage, StoredEvent, WatchEventType } from "./storage.js";
import type { KubeObject, ResourceType } from "./types.js";
import { apiVersionOf, clone, isPlainObject, kubeTime, SAFE_ALPHABET } from "./types.js";
import { validateObject } from "./validation.js";
import type { ServiceAccountIssuer } from "./service-account-tokens.js";
import jsonPatch from "fast-json-patch";

/**
 * The API semantics, independent of HTTP: create/get/list/update/patch/delete/watch with kube-apiserver's
 * defaulting, validation, optimistic concurrency, finalizers, garbage collection through ownerReferences,
 * namespace lifecycle and CRD registration. The HTTP handlers and the in-process store both go through here,
 * so the sandbox kubelet sees exactly what clients see.
 */

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** The field manager (managedFields); defaults to the client's user agent name. */
  fieldManager?: string;
  subresource?: string;
  /** `Strict` refuses unknown fields of custom objects (instead of pruning them silently). */
  fieldValidation?: string;
}

export type PropagationPolicy = "Foreground" | "Background" | "Orphan";

export interface DeleteOptions extends WriteOptions {
  propagationPolicy?: PropagationPolicy;
  /** Pods: seconds the kubelet gives the containers before the pod goes; 0 deletes at once (--force). */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type PatchType = "json" | "merge" | "strategic" | "apply";

export interface PatchOptions extends WriteOptions {
  force?: boolean;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Unset or "0": start with ADDED events for what exists now. */
  resourceVersion?: string;
}

export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
}

export interface DeleteResult {
  object: KubeObject;
  /** False when finalizers (or graceful foreground deletion) keep the object for now: HTTP 202. */
  deleted: boolean;
  /** A pod marked for graceful deletion: its kubelet finishes it (HTTP 200). */
  graceful?: boolean;
}

/**
 * kube-apiserver's pod deletion grace: the request's, else the pod's terminationGracePeriodSeconds (30); none for a
 * pod no node runs (unscheduled) or that has finished, which go at once.
 */
function podGracePeriodSeconds(pod: KubeObject, requested: number | undefined): number {
  const spec = (pod as { spec?: { nodeName?: string; terminationGracePeriodSeconds?: number } }).spec ?? {};
  const phase = (pod as { status?: { phase?: string } }).status?.phase;
  if (!spec.nodeName || phase === "Succeeded" || phase === "Failed") return 0;
  return Math.max(0, requested ?? spec.terminationGracePeriodSeconds ?? 30);
}

/** Namespaces kube-apiserver refuses to delete. */
const PROTECTED_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);
const FOREGROUND = "foregroundDeletion";
const ORPHAN = "orphan";
const now = () => kubeTime();

function randomSuffix(): string {
  let s = "";
  for (let i = 0; i < 5; i++) s += SAFE_ALPHABET[Math.floor(Math.random() * SAFE_ALPHABET.length)];
  return s;
}

function gr(rt: ResourceType): { group: string; resource: string } {
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

/**
 * A mutating admission step for new objects, run after defaulting and the built-in admission (the namespace exists,
 * a pod's ServiceAccount exists) and before validation, as a MutatingWebhookConfiguration's webhook runs. It changes
 * the object in place, or throws the KubeError it denies with.
 */
export type CreateAdmission = (rt: ResourceType, object: KubeObject, cluster: Cluster) => void;

export interface ClusterOptions {
  serviceAccountIssuer: ServiceAccountIssuer;
  admission?: CreateAdmission[];
}

export class Cluster {
  readonly registry = new ResourceRegistry();
  readonly tokens: TokenAuthenticator;
  readonly serviceAccountIssuer: ServiceAccountIssuer;
  private readonly admission: CreateAdmission[];
  private serviceIpCounter = 0;

  constructor(
    readonly storage: Storage,
    options: ClusterOptions,
  ) {
    this.serviceAccountIssuer = options.serviceAccountIssuer;
    this.admission = options.admission ?? [];
    this.tokens = new TokenAuthenticator(storage, options.serviceAccountIssuer);
    for (const crd of storage.list(storageKey({ group: "apiextensions.k8s.io", plural: "customresourcedefinitions" }))) {
      this.registry.setCustom(crd.metadata.name ?? "", resourcesOfCrd(crd));
    }
  }

  private resource(group: string, version: string, plural: string): ResourceType {
    const rt = this.registry.byPlural(group, version, plural);
    if (!rt) throw Errors.pathNotFound();
    return rt;
  }

  /** The served resource for an apiVersion and kind (404 when nothing serves it). */
  resourceFor(apiVersion: string, kind: string): ResourceType {
    const rt = this.registry.byKind(apiVersion, kind);
    if (!rt) throw Errors.pathNotFound();
    return rt;
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

  private lookup(rt: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.storage.get(storageKey(rt), this.namespaceOf(rt, namespace), name);
  }

  get(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const found = this.lookup(rt, namespace, name);
    if (!found) throw Errors.notFound(gr(rt), name);
    return this.served(rt, found);
  }

  private filter(rt: ResourceType, opts: { labelSelector?: string; fieldSelector?: string }): (o: KubeObject) => boolean {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, rt.kind, rt.crdName !== undefined);
    return (o) => matchesRequirements(labels, o.metadata.labels) && matchesFields(fields, o);
  }

  list(rt: ResourceType, opts: ListOptions = {}): ListResult {
    const match = this.filter(rt, opts);
    let items = this.storage.list(storageKey(rt), this.namespaceOf(rt, opts.namespace)).filter(match);
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

  private invalid(rt: ResourceType, name: string, errs: FieldError[]): void {
    if (errs.length) throw Errors.invalid({ group: rt.group, kind: rt.kind }, name, errs);
  }

  /** Validation, pruning (custom objects) and kind-specific checks, shared by every write. */
  private admit(rt: ResourceType, o: KubeObject, old: KubeObject | undefined, fieldValidation?: string): KubeObject {
    let out = o;
    if (rt.crdName) {
      const crd = this.storage.get(storageKey({ group: "apiextensions.k8s.io", plural: "customresourcedefinitions" }), undefined, rt.crdName);
      const pruned = pruneCustomObject(o, crd ? schemaOf(crd, rt.version) : undefined);
      if (fieldValidation === "Strict" && pruned.dropped.length) {
        const unknown = pruned.dropped.map((f) => `unknown field "${f}"`).join(", ");
        throw Errors.badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: strict decoding error: ${unknown}`);
      }
      out = pruned.object;
      this.invalid(rt, o.metadata.name ?? "", pruned.errors);
    }
    const errs = validateObject(rt, out);
    if (rt.group === "apiextensions.k8s.io" && rt.kind === "CustomResourceDefinition") errs.push(...validateCrd(out));
    if (old?.metadata.deletionTimestamp) {
      const before = new Set(old.metadata.finalizers ?? []);
      if ((out.metadata.finalizers ?? []).some((f) => !before.has(f))) {
        errs.push({ type: "FieldValueForbidden", field: "metadata.finalizers", detail: "no new finalizers can be added if the object is being deleted" });
      }
    }
    this.invalid(rt, o.metadata.name ?? "", errs);
    return out;
  }

  private requireNamespace(rt: ResourceType, namespace: string | undefined, name: string): void {
    if (!rt.namespaced || namespace === undefined) return;
    const ns = this.storage.get("namespaces", undefined, namespace);
    if (!ns) throw Errors.notFound({ group: "", resource: "namespaces" }, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw Errors.forbidden(gr(rt), name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private allocateServiceIp = (): string => {
    const used = new Set(this.storage.list("services").map((s) => (s.spec as { clusterIP?: string } | undefined)?.clusterIP));
    for (;;) {
      const n = 10 + this.serviceIpCounter++;
      const ip = `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
      if (!used.has(ip)) return ip;
    }
  };

  /** Fills what creation owns: name from generateName, uid, timestamps, generation, status reset, defaults. */
  private prepareCreate(rt: ResourceType, namespace: string | undefined, body: KubeObject, manager: string, fieldValidation?: string): KubeObject {
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
    if (!rt.crdName) applyCreateDefaults(rt.group, rt.kind, body, this.allocateServiceIp);
    if (rt.kind === "CustomResourceDefinition" && rt.group === "apiextensions.k8s.io") {
      defaultCrd(body);
      body.status = acceptedStatus(body, meta.creationTimestamp);
    }
    if (this.admission.length) {
      // Built-in admission runs before the webhooks, which may read what it guarantees (the pod's ServiceAccount).
      this.requireNamespace(rt, body.metadata.namespace, body.metadata.name ?? "");
      if (rt.kind === "Pod" && rt.group === "") this.requireServiceAccount(body);
      for (const admit of this.admission) admit(rt, body, this);
      // The API server defaults what a webhook returns, as it defaults what a client sends.
      if (!rt.crdName) applyCreateDefaults(rt.group, rt.kind, body, this.allocateServiceIp);
    }
    const admitted = this.admit(rt, body, undefined, fieldValidation);
    admitted.metadata.managedFields = recordUpdate(undefined, admitted, "whole", this.writeContext(rt, manager));
    return admitted;
  }

  private writeContext(rt: ResourceType, manager: string, subresource?: string) {
    return { manager, apiVersion: apiVersionOf(rt), subresource, rules: rt.listRules, now: now() };
  }

  create(rt: ResourceType, namespace: string | undefined, input: KubeObject, opts: WriteOptions = {}): KubeObject {
    if (VIRTUAL_KINDS.has(rt.kind)) throw Errors.methodNotAllowed();
    const body = this.prepareCreate(rt, namespace, clone(input), opts.fieldManager ?? "unknown", opts.fieldValidation);
    const name = body.metadata.name ?? "";
    this.requireNamespace(rt, body.metadata.namespace, name);
    if (rt.kind === "Pod" && rt.group === "") this.requireServiceAccount(body);
    if (this.lookup(rt, body.metadata.namespace, name)) throw Errors.alreadyExists(gr(rt), name);
    if (opts.dryRun) return this.served(rt, body);
    const stored = this.storage.put(storageKey(rt), this.stored(rt, body));
    this.afterCreate(rt, stored);
    return this.served(rt, stored);
  }

  /** The ServiceAccount admission plugin: a pod's ServiceAccount must exist. */
  private requireServiceAccount(pod: KubeObject): void {
    const sa = (pod.spec as { serviceAccountName?: string }).serviceAccountName ?? "default";
    const ns = pod.metadata.namespace ?? "";
    if (!this.storage.get("serviceaccounts", ns, sa)) {
      throw Errors.forbidden({ group: "", resource: "pods" }, pod.metadata.name, `error looking up service account ${ns}/${sa}: serviceaccount "${sa}" not found`);
    }
  }

  private afterCreate(rt: ResourceType, o: KubeObject): void {
    const key = `${rt.group}/${rt.kind}`;
    if (key === "/Namespace") this.ensureDefaultServiceAccount(o.metadata.name ?? "");
    if (key === "/ServiceAccount") this.tokens.ensureServiceAccountToken(o.metadata.namespace ?? "", o.metadata.name ?? "");
    if (key === "apiextensions.k8s.io/CustomResourceDefinition") this.registry.setCustom(o.metadata.name ?? "", resourcesOfCrd(o));
  }

  /** The ServiceAccount controller's job: every namespace has `default`. */
  ensureDefaultServiceAccount(namespace: string): void {
    const ns = this.storage.get("namespaces", undefined, namespace);
    if (!ns || ns.metadata.deletionTimestamp || this.storage.get("serviceaccounts", namespace, "default")) return;
    const sa = this.resource("", "v1", "serviceaccounts");
    this.create(sa, namespace, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace } }, { fieldManager: "kube-controller-manager" });
  }

  /**
   * Writes `next` over `live`: optimistic concurrency, status/main separation, generation, managedFields,
   * and finishing a deletion when the last finalizer goes.
   */
  private write(rt: ResourceType, live: KubeObject, next: KubeObject, opts: WriteOptions, managedFields: "record" | "given"): KubeObject {
    const name = live.metadata.name ?? "";
    const wanted = next.metadata.resourceVersion;
    if (wanted && wanted !== live.metadata.resourceVersion) throw Errors.staleResourceVersion(gr(rt), name);
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
    out = this.admit(rt, out, live, opts.fieldValidation);
    if (rt.kind === "CustomResourceDefinition" && rt.group === "apiextensions.k8s.io" && !status) {
      defaultCrd(out);
      out.status = acceptedStatus(out, now(), live.status);
    }
    if (rt.generation && !isDeepStrictEqual(specContent(out), specContent(live))) out.metadata.generation = (live.metadata.generation ?? 0) + 1;
    const scope: Scope = status ? "status" : rt.statusSubresource ? "main" : "whole";
    if (managedFields === "record") {
      out.metadata.managedFields = recordUpdate(live, out, scope, this.writeContext(rt, opts.fieldManager ?? "unknown", opts.subresource));
    }
    if (contentEqual(out, live)) return this.served(rt, live);
    out.metadata.resourceVersion = live.metadata.resourceVersion;
    if (opts.dryRun) return this.served(rt, out);
    if (out.metadata.deletionTimestamp && (out.metadata.finalizers ?? []).length === 0) {
      return this.served(rt, this.finishDelete(rt, out, "Background"));
    }
    const stored = this.storage.put(storageKey(rt), this.stored(rt, out));
    if (rt.kind === "CustomResourceDefinition" && rt.group === "apiextensions.k8s.io") this.registry.setCustom(name, resourcesOfCrd(stored));
    return this.served(rt, stored);
  }

  update(rt: ResourceType, namespace: string | undefined, name: string, input: KubeObject, opts: WriteOptions = {}): KubeObject {
    const body = clone(input);
    this.checkTypeMeta(rt, body);
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw Errors.badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    this.checkNamespace(rt, namespace, body);
    body.metadata.name = name;
    const live = this.lookup(rt, namespace, name);
    if (!live) throw Errors.notFound(gr(rt), name);
    return this.write(rt, live, body, opts, "record");
  }

  patch(rt: ResourceType, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: PatchOptions = {}): KubeObject {
    if (type === "apply") return this.apply(rt, namespace, name, patch, opts);
    if (opts.force) {
      throw Errors.invalid({ group: "meta.k8s.io", kind: "PatchOptions" }, "", [{ type: "FieldValueForbidden", field: "force", detail: "may not be specified for non-apply patch" }]);
    }
    const live = this.lookup(rt, namespace, name);
    if (!live) throw Errors.notFound(gr(rt), name);
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
    if (applied.metadata.name !== undefined && applied.metadata.name !== name) {
      throw Errors.badRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`);
    }
    applied.metadata.name = name;
    this.checkNamespace(rt, namespace, applied);
    const live = this.lookup(rt, namespace, name);
    const status = opts.subresource === "status";
    const scope: Scope = status ? "status" : rt.statusSubresource ? "main" : "whole";
    const ctx = { ...this.writeContext(rt, opts.fieldManager, opts.subresource), live: live ? this.served(rt, clone(live)) : undefined, applied, force: opts.force ?? false, scope };
    if (!live) {
      if (status) throw Errors.notFound(gr(rt), name);
      const merged = serverSideApply(ctx);
      const prepared = this.prepareCreate(rt, namespace, clone(merged), opts.fieldManager, opts.fieldValidation);
      prepared.metadata.managedFields = merged.metadata.managedFields;
      this.requireNamespace(rt, prepared.metadata.namespace, name);
      if (rt.kind === "Pod" && rt.group === "") this.requireServiceAccount(prepared);
      if (opts.dryRun) return this.served(rt, prepared);
      const stored = this.storage.put(storageKey(rt), this.stored(rt, prepared));
      this.afterCreate(rt, stored);
      return this.served(rt, stored);
    }
    const requestedVersion = applied.metadata.resourceVersion;
    const merged = serverSideApply(ctx);
    merged.metadata.resourceVersion = requestedVersion ?? live.metadata.resourceVersion;
    return this.write(rt, live, merged, opts, "given");
  }

  delete(rt: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): DeleteResult {
    const live = this.lookup(rt, namespace, name);
    if (!live) throw Errors.notFound(gr(rt), name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== live.metadata.uid) {
      throw Errors.conflict(gr(rt), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${live.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== live.metadata.resourceVersion) {
      throw Errors.conflict(gr(rt), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${live.metadata.resourceVersion}`);
    }
    if (rt.group === "" && rt.kind === "Namespace" && PROTECTED_NAMESPACES.has(name)) {
      throw Errors.forbidden(gr(rt), name, "this namespace may not be deleted");
    }
    if (opts.dryRun) return { object: this.served(rt, live), deleted: true };
    const policy = opts.propagationPolicy ?? "Background";
    if (rt.group === "" && rt.kind === "Namespace") return this.deleteNamespace(rt, live);
    const finalizers = new Set(live.metadata.finalizers ?? []);
    const grace = rt.group === "" && rt.kind === "Pod" ? podGracePeriodSeconds(live, opts.gracePeriodSeconds) : 0;
    if (live.metadata.deletionTimestamp) {
      const current = live.metadata.deletionGracePeriodSeconds as number | undefined;
      // A shorter grace period shortens a graceful deletion under way (kubectl delete --grace-period, --force).
      if (current === undefined || grace >= current) return { object: this.served(rt, live), deleted: false };
      if (grace === 0 && finalizers.size === 0) return { object: this.served(rt, this.finishDelete(rt, live, policy)), deleted: true };
      return { object: this.served(rt, this.markGraceful(rt, live, grace)), deleted: false, graceful: true };
    }
    if (grace > 0) return { object: this.served(rt, this.markGraceful(rt, live, grace)), deleted: false, graceful: true };
    if (policy === "Foreground" && this.dependentsOf(live.metadata.uid ?? "").length > 0) finalizers.add(FOREGROUND);
    if (finalizers.size === 0) return { object: this.served(rt, this.finishDelete(rt, live, policy)), deleted: true };
    const marked = clone(live);
    marked.metadata.deletionTimestamp = now();
    marked.metadata.deletionGracePeriodSeconds = 0;
    marked.metadata.finalizers = [...finalizers];
    const stored = this.storage.put(storageKey(rt), marked);
    // Foreground deletes dependents before the owner, Orphan releases them now; Background waits until the
    // owner is really gone (finishDelete).
    if (policy === "Orphan") this.orphanDependents(live.metadata.uid ?? "");
    else if (policy === "Foreground") this.deleteDependents(live.metadata.uid ?? "", policy);
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
    return this.storage.put(storageKey(rt), marked);
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

  /** Removes the object now, then lets the garbage collector act on what it owned and what owns it. */
  private finishDelete(rt: ResourceType, o: KubeObject, policy: PropagationPolicy): KubeObject {
    const gone = this.storage.remove(storageKey(rt), o);
    const key = `${rt.group}/${rt.kind}`;
    if (key === "/ServiceAccount") this.tokens.revokeServiceAccountToken(o.metadata.namespace ?? "", o.metadata.name ?? "");
    if (key === "apiextensions.k8s.io/CustomResourceDefinition") this.removeCrdObjects(o);
    const uid = o.metadata.uid ?? "";
    if (policy === "Orphan" || (o.metadata.finalizers ?? []).includes(ORPHAN)) this.orphanDependents(uid);
    else this.deleteDependents(uid, "Background");
    this.releaseOwners(o);
    if (o.metadata.namespace) this.finalizeNamespaceIfEmpty(o.metadata.namespace);
    return gone;
  }

  private removeCrdObjects(crd: KubeObject): void {
    const types = resourcesOfCrd(crd);
    this.registry.setCustom(crd.metadata.name ?? "", []);
    if (!types.length) return;
    const bucket = storageKey(types[0]);
    for (const o of this.storage.list(bucket)) this.storage.remove(bucket, o);
    this.storage.dropBucket(bucket);
  }

  /** Objects (any kind) whose ownerReferences name the uid, with their resource. */
  private dependentsOf(uid: string): { rt: ResourceType; object: KubeObject }[] {
    if (!uid) return [];
    const out: { rt: ResourceType; object: KubeObject }[] = [];
    const byBucket = new Map(this.registry.all().map((t) => [storageKey(t), t]));
    for (const bucket of this.storage.buckets()) {
      const rt = byBucket.get(bucket);
      if (!rt) continue;
      for (const o of this.storage.list(bucket)) if ((o.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) out.push({ rt, object: o });
    }
    return out;
  }

  private deleteDependents(uid: string, policy: PropagationPolicy): void {
    for (const { rt, object } of this.dependentsOf(uid)) {
      if (!this.lookup(rt, object.metadata.namespace, object.metadata.name ?? "")) continue;
      this.delete(rt, object.metadata.namespace, object.metadata.name ?? "", { propagationPolicy: policy === "Foreground" ? "Foreground" : "Background" });
    }
  }

  private orphanDependents(uid: string): void {
    for (const { rt, object } of this.dependentsOf(uid)) {
      const next = clone(object);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      this.storage.put(storageKey(rt), next);
    }
  }

  /** A foreground-deleting owner goes once its last dependent has. */
  private releaseOwners(o: KubeObject): void {
    const byKind = (apiVersion: string, kind: string) => this.registry.byKind(apiVersion, kind);
    for (const ref of o.metadata.ownerReferences ?? []) {
      const rt = byKind(ref.apiVersion, ref.kind);
      if (!rt) continue;
      const owner = this.lookup(rt, rt.namespaced ? o.metadata.namespace : undefined, ref.name);
      if (!owner || owner.metadata.uid !== ref.uid || !owner.metadata.deletionTimestamp) continue;
      if (!(owner.metadata.finalizers ?? []).includes(FOREGROUND) || this.dependentsOf(ref.uid).length > 0) continue;
      const next = clone(owner);
      next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== FOREGROUND);
      if (next.metadata.finalizers.length === 0) this.finishDelete(rt, next, "Background");
      else this.storage.put(storageKey(rt), next);
    }
  }

  /** Namespace deletion: Terminating, its content deleted, then the namespace itself once empty. */
  private deleteNamespace(rt: ResourceType, live: KubeObject): DeleteResult {
    const name = live.metadata.name ?? "";
    let ns = live;
    if (!live.metadata.deletionTimestamp) {
      const marked = clone(live);
      marked.metadata.deletionTimestamp = now();
      marked.metadata.deletionGracePeriodSeconds = 0;
      marked.status = { ...(isPlainObject(marked.status) ? marked.status : {}), phase: "Terminating" };
      ns = this.storage.put("namespaces", marked);
      for (const t of this.registry.all()) {
        if (!t.namespaced || t.version !== (t.storageVersion ?? t.version)) continue;
        for (const o of this.storage.list(storageKey(t), name)) {
          if (this.lookup(t, name, o.metadata.name ?? "")) this.delete(t, name, o.metadata.name ?? "", { propagationPolicy: "Background" });
        }
      }
    }
    const removed = this.finalizeNamespaceIfEmpty(name);
    return { object: this.served(rt, removed ?? this.lookup(rt, undefined, name) ?? ns), deleted: removed !== undefined };
  }

  /** Removes a Terminating namespace once nothing is left in it; returns it when it did. */
  private finalizeNamespaceIfEmpty(namespace: string): KubeObject | undefined {
    const ns = this.storage.get("namespaces", undefined, namespace);
    if (!ns?.metadata.deletionTimestamp) return undefined;
    const nonEmpty = this.registry.all().some((t) => t.namespaced && this.storage.list(storageKey(t), namespace).length > 0);
    if (nonEmpty || (ns.metadata.finalizers ?? []).length > 0) return undefined;
    return this.storage.remove("namespaces", ns);
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
      for (const o of this.storage.list(storageKey(rt), namespace)) if (match(o)) sink({ type: "ADDED", object: this.served(rt, o) });
    } else {
      from = Number(rv);
      if (!Number.isInteger(from) || from < 0) throw Errors.badRequest(`invalid resource version: ${rv}`);
    }
    return this.storage.subscribe(storageKey(rt), from, (e: StoredEvent) => {
      const now = inScope(e.object);
      const before = e.type === "MODIFIED" ? inScope(e.previous) : now;
      let type: WatchEventType | undefined = e.type;
      if (e.type === "MODIFIED" && now && !before) type = "ADDED";
      else if (e.type === "MODIFIED" && !now && before) type = "DELETED";
      else if (!now) type = undefined;
      if (type) sink({ type, object: this.served(rt, clone(e.object)) });
    });
  }
}
