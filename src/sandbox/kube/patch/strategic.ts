import { Errors } from "../errors.js";
import { isPlainObject } from "../types.js";
import { childRule, type Rules } from "./fieldset.js";

/**
 * Strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch) for the lists kube declares merge keys for:
 * maps merge and null deletes; lists with a merge key merge item by item (`$patch: delete` removes one,
 * `$patch: replace` replaces the list); set lists (finalizers) union; other lists replace. The directives kubectl
 * sends (`$setElementOrder/…`, `$deleteFromPrimitiveList/…`, `$retainKeys`, `$patch`) are honoured or dropped.
 */

const ORDER = "$setElementOrder/";
const DELETE_PRIMITIVE = "$deleteFromPrimitiveList/";

function sameKey(a: unknown, b: unknown, keys: string[]): boolean {
  return isPlainObject(a) && isPlainObject(b) && keys.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

function mergeList(live: unknown[], patch: unknown[], rulePath: string, rules: Rules): unknown[] {
  const rule = rules[rulePath];
  if (patch.some((p) => isPlainObject(p) && p.$patch === "replace")) {
    return patch.filter((p) => !(isPlainObject(p) && p.$patch === "replace"));
  }
  if (rule?.type === "set") return [...live, ...patch.filter((v) => !live.some((x) => JSON.stringify(x) === JSON.stringify(v)))];
  if (rule?.type !== "map") return structuredClone(patch);
  // SMP merges on the first (patchMergeKey) key only; SSA's extra keys (protocol) are defaulted anyway.
  const keys = rule.keys.slice(0, 1);
  const out = [...live];
  for (const item of patch) {
    if (!isPlainObject(item)) continue;
    const at = out.findIndex((x) => sameKey(x, item, keys));
    if (item.$patch === "delete") {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = strategicMerge(out[at], item, rulePath, rules);
    else out.push(strategicMerge(undefined, item, rulePath, rules));
  }
  return out;
}

export function strategicMerge(live: unknown, patch: unknown, rulePath: string, rules: Rules): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  if (patch.$patch === "delete") return undefined;
  const replace = patch.$patch === "replace";
  const out: Record<string, unknown> = isPlainObject(live) && !replace ? { ...live } : {};
  const retain = Array.isArray(patch.$retainKeys) ? (patch.$retainKeys as string[]) : undefined;
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys" || k.startsWith(ORDER)) continue;
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(v)) out[field] = current.filter((x) => !v.some((d) => JSON.stringify(d) === JSON.stringify(x)));
      continue;
    }
    if (k.startsWith("$")) throw Errors.badRequest(`unknown patch directive ${JSON.stringify(k)}`);
    const rule = childRule(rulePath, k);
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(Array.isArray(out[k]) ? (out[k] as unknown[]) : [], v, rule, rules);
    else {
      const merged = strategicMerge(out[k], v, rule, rules);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
  }
  return out;
}
