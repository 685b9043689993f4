import type { JsonObject, ListMergeRule } from "../types.js";
import { isPlainObject, listKeyValue } from "../types.js";

/**
 * Field sets as server-side apply tracks ownership (sigs.k8s.io/structured-merge-diff fieldpath): every leaf
 * value and every associative-list element of an object is a path of elements `f:<field>`, `k:<key json>`,
 * `v:<value json>`. A set is kept as path strings; managedFields stores it as the FieldsV1 tree.
 */

export type Rules = Record<string, ListMergeRule>;

const SEP = "\u0001";
export type PathSet = Set<string>;

export function joinPath(elements: string[]): string {
  return elements.join(SEP);
}

/** Whether `path` is `prefix` or lies under it. */
export function within(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + SEP);
}

export function splitPath(path: string): string[] {
  return path === "" ? [] : path.split(SEP);
}

export function childRule(rulePath: string, field: string): string {
  return rulePath ? `${rulePath}.${field}` : field;
}

export function keyElement(item: Record<string, unknown>, rule: { keys: string[]; keyDefaults?: Record<string, unknown> }): string {
  const key: Record<string, unknown> = {};
  for (const k of rule.keys) {
    const v = listKeyValue(item, rule, k);
    if (v !== undefined) key[k] = v;
  }
  return `k:${JSON.stringify(key)}`;
}

function walk(value: unknown, rulePath: string, elems: string[], out: PathSet, rules: Rules): void {
  if (isPlainObject(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    if (keys.length === 0) out.add(joinPath(elems));
    for (const k of keys) walk(value[k], childRule(rulePath, k), [...elems, `f:${k}`], out, rules);
    return;
  }
  const rule = rules[rulePath];
  if (Array.isArray(value) && rule?.type === "map") {
    for (const item of value) {
      if (!isPlainObject(item)) continue;
      const at = [...elems, keyElement(item, rule)];
      out.add(joinPath(at));
      for (const k of Object.keys(item)) walk(item[k], childRule(rulePath, k), [...at, `f:${k}`], out, rules);
    }
    return;
  }
  if (Array.isArray(value) && rule?.type === "set") {
    for (const item of value) out.add(joinPath([...elems, `v:${JSON.stringify(item)}`]));
    return;
  }
  out.add(joinPath(elems));
}

/** All paths of a value (the tracked view of an object, see apply.ts). */
export function pathsOf(value: Record<string, unknown>, rules: Rules): PathSet {
  const out: PathSet = new Set();
  for (const k of Object.keys(value)) if (value[k] !== undefined) walk(value[k], k, [`f:${k}`], out, rules);
  return out;
}

function matches(item: unknown, element: string): boolean {
  if (!isPlainObject(item)) return false;
  const key = JSON.parse(element.slice(2)) as Record<string, unknown>;
  return Object.entries(key).every(([k, v]) => JSON.stringify(item[k]) === JSON.stringify(v));
}

/** Steps one element into a value: a field, a keyed list item or a set member. */
function step(value: unknown, element: string): { found: boolean; value: unknown } {
  if (element.startsWith("f:")) {
    if (!isPlainObject(value) || !(element.slice(2) in value)) return { found: false, value: undefined };
    return { found: true, value: value[element.slice(2)] };
  }
  if (!Array.isArray(value)) return { found: false, value: undefined };
  if (element.startsWith("k:")) {
    const item = value.find((i) => matches(i, element));
    return { found: item !== undefined, value: item };
  }
  const wanted = element.slice(2);
  const item = value.find((i) => JSON.stringify(i) === wanted);
  return { found: item !== undefined, value: item };
}

export function valueAt(root: unknown, path: string): { found: boolean; value: unknown } {
  let cur: { found: boolean; value: unknown } = { found: true, value: root };
  for (const el of splitPath(path)) {
    cur = step(cur.value, el);
    if (!cur.found) return cur;
  }
  return cur;
}

/** Deletes what a path names from an object in place (a field, a keyed item, a set member). */
export function removeAt(root: unknown, path: string): void {
  const elems = splitPath(path);
  const last = elems.pop();
  if (!last) return;
  const parent = valueAt(root, joinPath(elems));
  if (!parent.found) return;
  const container = parent.value;
  if (last.startsWith("f:")) {
    if (isPlainObject(container)) delete container[last.slice(2)];
    return;
  }
  if (!Array.isArray(container)) return;
  const index = last.startsWith("k:") ? container.findIndex((i) => matches(i, last)) : container.findIndex((i) => JSON.stringify(i) === last.slice(2));
  if (index >= 0) container.splice(index, 1);
}

/** FieldsV1: nested objects keyed by path elements, with "." marking an element that is itself owned. */
export function toFieldsV1(paths: PathSet): JsonObject {
  const root: JsonObject = {};
  const all = [...paths].map(splitPath);
  const prefixes = new Set<string>();
  for (const elems of all) for (let i = 1; i < elems.length; i++) prefixes.add(joinPath(elems.slice(0, i)));
  for (const elems of all) {
    let node = root;
    for (const el of elems) node = (node[el] ??= {}) as JsonObject;
    if (prefixes.has(joinPath(elems))) node["."] = {};
  }
  return root;
}

export function fromFieldsV1(tree: JsonObject): PathSet {
  const out: PathSet = new Set();
  const visit = (node: JsonObject, elems: string[]): void => {
    const children = Object.keys(node).filter((k) => k !== ".");
    if (elems.length > 0 && ("." in node || children.length === 0)) out.add(joinPath(elems));
    for (const k of children) if (isPlainObject(node[k])) visit(node[k] as JsonObject, [...elems, k]);
  };
  visit(tree, []);
  return out;
}

/** `.spec.containers[name="app"].image`, as conflict messages print a path. */
export function renderPath(path: string): string {
  return splitPath(path)
    .map((el) => {
      if (el.startsWith("f:")) return `.${el.slice(2)}`;
      if (el.startsWith("v:")) return `[=${el.slice(2)}]`;
      const key = JSON.parse(el.slice(2)) as Record<string, unknown>;
      return `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}]`;
    })
    .join("");
}

/** Whether a path addresses a value (not just an associative-list element's identity). */
export function isLeaf(paths: PathSet, path: string): boolean {
  const last = splitPath(path).pop() ?? "";
  if (last.startsWith("k:")) return false;
  for (const p of paths) if (p !== path && p.startsWith(path + SEP)) return false;
  return true;
}
