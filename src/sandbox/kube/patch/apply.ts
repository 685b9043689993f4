import { Errors, type StatusCause } from "../errors.js";
import type { KubeObject, ManagedFieldsEntry } from "../types.js";
import { clone, isPlainObject, listKeyValue } from "../types.js";
import { childRule, fromFieldsV1, isLeaf, pathsOf, removeAt, renderPath, splitPath, toFieldsV1, valueAt, within, type PathSet, type Rules } from "./fieldset.js";

/**
 * Server-side apply and field ownership (managedFields), as sigs.k8s.io/structured-merge-diff keeps them: per map
 * key, per element of a list with merge keys, an atomic list as a whole. An apply makes its manager own exactly the
 * fields of the applied configuration: what it owned before and no longer sends is removed, except what another
 * manager (or this apply) still owns under it; fields another manager owns with a different value are conflicts,
 * unless forced. Every other write (create, update, patch) gives its manager the fields it changed, taking them
 * from the previous owners.
 */

/** Which part of an object a write may touch, and so which fields are tracked. */
export type Scope = "main" | "status" | "whole";

/** The fields SSA tracks: metadata only for labels, annotations, finalizers and owners; no apiVersion/kind. */
export function trackedView(obj: KubeObject, scope: Scope): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  if (scope === "status") {
    if (obj.status !== undefined) view.status = obj.status;
    return view;
  }
  const meta: Record<string, unknown> = {};
  for (const k of ["labels", "annotations", "finalizers", "ownerReferences"]) {
    const v = obj.metadata[k];
    if (v !== undefined && !(isPlainObject(v) && Object.keys(v).length === 0) && !(Array.isArray(v) && v.length === 0)) meta[k] = v;
  }
  if (Object.keys(meta).length) view.metadata = meta;
  for (const [k, v] of Object.entries(obj)) {
    if (k === "apiVersion" || k === "kind" || k === "metadata" || v === undefined) continue;
    if (k === "status" && scope === "main") continue;
    view[k] = v;
  }
  return view;
}

interface Manager {
  entry: ManagedFieldsEntry;
  paths: PathSet;
}

function managersOf(obj: KubeObject | undefined): Manager[] {
  return (obj?.metadata.managedFields ?? []).map((entry) => ({ entry, paths: fromFieldsV1(entry.fieldsV1 ?? {}) }));
}

function sameManager(e: ManagedFieldsEntry, manager: string, operation: "Apply" | "Update", subresource: string | undefined): boolean {
  return e.manager === manager && e.operation === operation && (e.subresource ?? "") === (subresource ?? "");
}

export interface WriteContext {
  manager: string;
  apiVersion: string;
  subresource?: string;
  rules: Rules;
  now: string;
}

function sortedEntries(managers: Manager[]): ManagedFieldsEntry[] {
  return managers
    .filter((m) => m.paths.size > 0)
    .map((m) => {
      const e: ManagedFieldsEntry = { ...m.entry, fieldsType: "FieldsV1", fieldsV1: toFieldsV1(m.paths) };
      if (!e.subresource) delete e.subresource;
      return e;
    });
}

/** Puts a manager's new path set in place, keeping the entry's time unless its fields changed. */
function upsert(managers: Manager[], ctx: WriteContext, operation: "Apply" | "Update", paths: PathSet): Manager[] {
  const existing = managers.find((m) => sameManager(m.entry, ctx.manager, operation, ctx.subresource));
  const changed = !existing || existing.paths.size !== paths.size || [...paths].some((p) => !existing.paths.has(p)) || existing.entry.apiVersion !== ctx.apiVersion;
  const entry: ManagedFieldsEntry = {
    manager: ctx.manager,
    operation,
    apiVersion: ctx.apiVersion,
    time: changed || !existing ? ctx.now : existing.entry.time,
    fieldsType: "FieldsV1",
    fieldsV1: {},
  };
  if (ctx.subresource) entry.subresource = ctx.subresource;
  const next = { entry, paths };
  return existing ? managers.map((m) => (m === existing ? next : m)) : [...managers, next];
}

function valuesEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Paths whose value differs between two tracked views (added, changed or removed leaves). */
function changedPaths(before: Record<string, unknown>, after: Record<string, unknown>, rules: Rules): { set: PathSet; removed: PathSet } {
  const oldPaths = pathsOf(before, rules);
  const newPaths = pathsOf(after, rules);
  const set: PathSet = new Set();
  for (const p of newPaths) {
    const old = valueAt(before, p);
    if (!old.found || (isLeaf(newPaths, p) && !valuesEqual(old.value, valueAt(after, p).value))) set.add(p);
  }
  const removed: PathSet = new Set([...oldPaths].filter((p) => !newPaths.has(p)));
  return { set, removed };
}

/**
 * managedFields after a non-apply write: the writer gains what it changed, others lose it, and fields that
 * no longer exist are owned by nobody.
 */
export function recordUpdate(before: KubeObject | undefined, after: KubeObject, scope: Scope, ctx: WriteContext): ManagedFieldsEntry[] {
  const b = before ? trackedView(before, scope) : {};
  const a = trackedView(after, scope);
  const { set, removed } = changedPaths(b, a, ctx.rules);
  let managers = managersOf(before).map((m) => ({ entry: m.entry, paths: new Set([...m.paths].filter((p) => !set.has(p) && !removed.has(p))) }));
  if (set.size > 0) {
    const mine = managers.find((m) => sameManager(m.entry, ctx.manager, "Update", ctx.subresource));
    managers = upsert(managers, ctx, "Update", new Set([...(mine?.paths ?? []), ...set]));
  }
  return sortedEntries(managers);
}

function printManager(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === "Update") s += ` using ${e.apiVersion}`;
  return s;
}

interface Conflict {
  manager: ManagedFieldsEntry;
  path: string;
}

/** The 409 kube-apiserver answers (NewConflictError), message and causes included. */
function conflictError(conflicts: Conflict[]): Error {
  const causes: StatusCause[] = conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with ${printManager(c.manager)}`, field: renderPath(c.path) }));
  if (conflicts.length === 1) {
    const c = conflicts[0];
    return Errors.applyConflict(`Apply failed with 1 conflict: conflict with ${printManager(c.manager)}: ${renderPath(c.path)}`, causes);
  }
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const name = printManager(c.manager);
    byManager.set(name, [...(byManager.get(name) ?? []), renderPath(c.path)]);
  }
  const lines: string[] = [];
  for (const name of [...byManager.keys()].sort()) {
    lines.push(`conflicts with ${name}:`);
    for (const p of byManager.get(name)!) lines.push(`- ${p}`);
  }
  return Errors.applyConflict(`Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`, causes);
}

/**
 * Removes a field this manager stopped applying, keeping what is still owned under it (structured-merge-diff's
 * prune, then its add-back of owned items): a map the manager owned as a whole (applied empty) loses only the
 * keys nobody owns, so another manager's labels survive.
 */
function prune(view: Record<string, unknown>, path: string, owned: PathSet, rules: Rules): void {
  const kept = (p: string) => [...owned].some((o) => within(o, p));
  if (!kept(path)) {
    removeAt(view, path);
    return;
  }
  // Shallowest first: what goes takes what is under it; an element that stays keeps its key fields.
  const under = [...pathsOf(view, rules)].filter((p) => within(p, path) && p !== path).sort(byDepth);
  for (const p of under) if (!kept(p) && !isKeyField(p)) removeAt(view, p);
}

function byDepth(a: string, b: string): number {
  return splitPath(a).length - splitPath(b).length;
}

/** A merge-key field of a list element (`k:{"name":"app"}` then `f:name`): it names the element. */
function isKeyField(path: string): boolean {
  const elems = splitPath(path);
  const [parent, last] = elems.slice(-2);
  return elems.length >= 2 && parent.startsWith("k:") && last.startsWith("f:") && last.slice(2) in (JSON.parse(parent.slice(2)) as object);
}

/** Merges an applied configuration into a live value: maps by key, associative lists by merge key, sets by value. */
function mergeApplied(live: unknown, applied: unknown, rulePath: string, rules: Rules): unknown {
  if (isPlainObject(applied) && isPlainObject(live)) {
    const out: Record<string, unknown> = { ...live };
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(live[k], v, childRule(rulePath, k), rules);
    return out;
  }
  const rule = rules[rulePath];
  if (Array.isArray(applied) && Array.isArray(live) && rule?.type === "map") {
    const out = [...live];
    for (const item of applied) {
      const at = out.findIndex((x) => isPlainObject(x) && isPlainObject(item) && rule.keys.every((k) => valuesEqual(listKeyValue(x, rule, k), listKeyValue(item, rule, k))));
      if (at >= 0) out[at] = mergeApplied(out[at], item, rulePath, rules);
      else out.push(clone(item));
    }
    return out;
  }
  if (Array.isArray(applied) && Array.isArray(live) && rule?.type === "set") {
    return [...live, ...applied.filter((v) => !live.some((x) => valuesEqual(x, v)))];
  }
  return clone(applied);
}

export interface ApplyInput extends WriteContext {
  live: KubeObject | undefined;
  applied: KubeObject;
  force: boolean;
  scope: Scope;
}

/** The object after applying `applied` as `manager`; throws the 409 on conflicts unless forced. */
export function serverSideApply(input: ApplyInput): KubeObject {
  const { live, applied, rules, scope } = input;
  const appliedView = trackedView(applied, scope);
  const appliedPaths = pathsOf(appliedView, rules);
  let managers = managersOf(live);
  const conflicts: Conflict[] = [];
  if (live) {
    const liveView = trackedView(live, scope);
    for (const m of managers) {
      if (sameManager(m.entry, input.manager, "Apply", input.subresource)) continue;
      for (const p of appliedPaths) {
        if (!m.paths.has(p) || !isLeaf(appliedPaths, p)) continue;
        const current = valueAt(liveView, p);
        if (current.found && !valuesEqual(current.value, valueAt(appliedView, p).value)) conflicts.push({ manager: m.entry, path: p });
      }
    }
  }
  if (conflicts.length && !input.force) throw conflictError(conflicts);
  if (input.force) {
    const taken = new Set(conflicts.map((c) => c.path));
    managers = managers.map((m) => ({ entry: m.entry, paths: new Set([...m.paths].filter((p) => !taken.has(p) || sameManager(m.entry, input.manager, "Apply", input.subresource))) }));
  }

  const base: KubeObject = live ? clone(live) : { apiVersion: applied.apiVersion, kind: applied.kind, metadata: { ...applied.metadata } };
  const previous = managers.find((m) => sameManager(m.entry, input.manager, "Apply", input.subresource));
  const owned: PathSet = new Set([...managers.filter((m) => m !== previous).flatMap((m) => [...m.paths]), ...appliedPaths]);
  const baseView = trackedView(base, scope);
  for (const p of [...(previous?.paths ?? [])].filter((p) => !appliedPaths.has(p)).sort(byDepth)) prune(baseView, p, owned, rules);

  const mergedView = mergeApplied(baseView, appliedView, "", rules) as Record<string, unknown>;
  const result: KubeObject = { ...base };
  for (const k of Object.keys(result)) if (k !== "apiVersion" && k !== "kind" && k !== "metadata" && !(k === "status" && scope === "main") && !(scope === "status" && k !== "status")) delete result[k];
  for (const [k, v] of Object.entries(mergedView)) {
    if (k === "metadata") continue;
    result[k] = v;
  }
  const mergedMeta = isPlainObject(mergedView.metadata) ? mergedView.metadata : {};
  result.metadata = { ...base.metadata };
  for (const k of scope === "status" ? [] : ["labels", "annotations", "finalizers", "ownerReferences"]) {
    if (mergedMeta[k] === undefined) delete result.metadata[k];
    else result.metadata[k] = mergedMeta[k];
  }
  managers = upsert(managers, input, "Apply", appliedPaths);
  result.metadata.managedFields = sortedEntries(managers);
  return result;
}
