import { canonicalScope } from "./resource-id.js";

/**
 * Azure RBAC action matching, as ARM evaluates it: case-insensitive, `*` matches any run of characters, and a
 * `/*\/` segment also matches a single `/` (so `userAssignedIdentities/*\/assign/action` grants
 * `userAssignedIdentities/assign/action`). Effective permission = some action matches and no notAction does.
 */
const cache = new Map<string, RegExp>();

function patternRegex(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    const escaped = pattern
      .split("/*/")
      .map((part) => part.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*"))
      .join("(?:/.*/|/)");
    re = new RegExp(`^${escaped}$`, "i");
    cache.set(pattern, re);
  }
  return re;
}

export function actionMatches(pattern: string, action: string): boolean {
  return patternRegex(pattern).test(action);
}

export interface PermissionSet {
  actions?: string[];
  notActions?: string[];
}

export function permitsAction(permissions: PermissionSet[], action: string): boolean {
  return permissions.some(
    (p) => (p.actions ?? []).some((a) => actionMatches(a, action)) && !(p.notActions ?? []).some((n) => actionMatches(n, action)),
  );
}

/** True when `scope` is `target` or one of its ancestors (subscription > group > resource > child). */
export function scopeCovers(scope: string, target: string): boolean {
  const s = canonicalScope(scope);
  const t = canonicalScope(target);
  return s === "" || s === "/" || t === s || t.startsWith(s + "/");
}
