import { permitsAction, scopeCovers } from "../../azure/permissions.js";
import { BUILTIN_ROLES } from "./builtin-roles.js";
import type { AzureState, RoleDefinition } from "./model.js";

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
    if (a.properties.principalId.toLowerCase() !== p || !scopeCovers(a.properties.scope, scope)) return false;
    const role = roleByGuid(state, guidOfRoleId(a.properties.roleDefinitionId));
    return Boolean(role && permitsAction(role.properties.permissions, action));
  });
}
