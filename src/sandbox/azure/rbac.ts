import { BUILTIN_ROLES } from "./builtin-roles.js";
import type { AzureState, RoleDefinition } from "./model.js";

/*
 * The sandbox's own RBAC evaluation. It deliberately shares no code with the product's src/azure/permissions.ts:
 * the sandbox stands in for ARM, so a mistake in the product's reading of RBAC must show up as a difference
 * against it, not be repeated by it.
 */

/**
 * Whether an action pattern from a role definition grants `action`, as ARM matches them: case-insensitive;
 * `*` matches any run of characters (slashes included); and a `/*\/` in the pattern may also stand for a single
 * `/`, so Managed Identity Operator's `userAssignedIdentities/*\/assign/action` grants
 * `userAssignedIdentities/assign/action`.
 */
export function actionGranted(pattern: string, action: string): boolean {
  return globMatch(pattern.toLowerCase(), 0, action.toLowerCase(), 0);
}

function globMatch(p: string, i: number, s: string, j: number): boolean {
  if (i === p.length) return j === s.length;
  if (p[i] === "*") {
    // `/*/` where the `*` covers nothing and the two slashes collapse into one.
    if (i > 0 && p[i - 1] === "/" && p[i + 1] === "/" && globMatch(p, i + 2, s, j)) return true;
    for (let k = j; k <= s.length; k++) if (globMatch(p, i + 1, s, k)) return true;
    return false;
  }
  return j < s.length && p[i] === s[j] && globMatch(p, i + 1, s, j + 1);
}

/** Effective permission of a role: some block's actions grant it and the same block's notActions do not take it away. */
export function roleGrants(role: RoleDefinition, action: string): boolean {
  return role.properties.permissions.some(
    (block) => block.actions.some((a) => actionGranted(a, action)) && !block.notActions.some((n) => actionGranted(n, action)),
  );
}

/** The segments of a scope, lower-cased ("/" and "" are the tenant root: no segments). */
function scopeSegments(scope: string): string[] {
  return scope.toLowerCase().split("/").filter(Boolean);
}

/** True when `ancestor` is `scope` itself or lies above it (root > subscription > group > resource > child). */
export function scopeContains(ancestor: string, scope: string): boolean {
  const a = scopeSegments(ancestor);
  const s = scopeSegments(scope);
  return a.length <= s.length && a.every((seg, i) => seg === s[i]);
}

/** A role definition by its GUID: built-in, else a custom role of this tenant. */
export function roleByGuid(state: AzureState, guid: string): RoleDefinition | undefined {
  const g = guid.toLowerCase();
  return BUILTIN_ROLES.find((r) => r.name === g) ?? state.customRoles[g];
}

export function guidOfRoleId(roleDefinitionId: string): string {
  return roleDefinitionId.split("/").pop()!.toLowerCase();
}

/**
 * ARM's authorization decision: the caller may perform `action` at `scope` when some role assignment of theirs
 * at that scope or an ancestor grants it (actions minus notActions).
 */
export function isAuthorized(state: AzureState, principalId: string, action: string, scope: string): boolean {
  const p = principalId.toLowerCase();
  return Object.values(state.roleAssignments).some((a) => {
    if (a.properties.principalId.toLowerCase() !== p || !scopeContains(a.properties.scope, scope)) return false;
    const role = roleByGuid(state, guidOfRoleId(a.properties.roleDefinitionId));
    return Boolean(role && roleGrants(role, action));
  });
}
