import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import { BUILTIN_ROLES } from "../builtin-roles.js";
import type { RoleAssignment, RoleDefinition } from "../model.js";
import { roleByGuid, guidOfRoleId, scopeContains } from "../rbac.js";
import { findResource, groupId, isResourceId, key, page, requireSubscription } from "../scopes.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments";
const DEFINITION_TYPE = "Microsoft.Authorization/roleDefinitions";

/** `{scope}` as captured from the path: "" for the tenant root, else "/subscriptions/..." */
function normalizeScope(scope: string): string {
  return scope.replace(/\/+$/, "");
}

/** Checks that a scope names something that exists: subscription, group, or resource (any depth). */
function requireScope(call: ArmCall, scope: string): void {
  const parts = scope.split("/").filter(Boolean);
  if (parts.length === 0) return;
  if (parts[0].toLowerCase() !== "subscriptions" || parts.length < 2) throw new ArmFailure(ArmErrors.noRegisteredProvider(scope));
  requireSubscription(call, parts[1]);
  if (parts.length === 2) return;
  if (parts[2].toLowerCase() !== "resourcegroups" || parts.length < 4) throw new ArmFailure(ArmErrors.noRegisteredProvider(scope));
  const group = groupId(parts[1], parts[3]);
  if (!findResource(call, group)) throw new ArmFailure(ArmErrors.resourceGroupNotFound(parts[3]));
  if (parts.length === 4) return;
  // A resource id: /providers/{ns}/{type}/{name}[/{childType}/{childName}...]; its top-level resource must exist.
  if (!isResourceId(scope)) throw new ArmFailure(ArmErrors.noRegisteredProvider(scope));
  const top = "/" + parts.slice(0, 8).join("/");
  if (!findResource(call, top)) throw new ArmFailure(ArmErrors.resourceNotFound(`${parts[5]}/${parts[6]}/${parts[7]}`, parts[3]));
}

/** The subscription a scope lies in, for role definition ids ("" at the tenant root). */
function subscriptionPrefix(scope: string): string {
  const m = /^\/subscriptions\/[^/]+/i.exec(scope);
  return m ? m[0] : "";
}

function definitionView(role: RoleDefinition, scope: string) {
  return {
    id: `${subscriptionPrefix(scope)}/providers/${DEFINITION_TYPE}/${role.name}`,
    name: role.name,
    type: DEFINITION_TYPE,
    properties: { ...role.properties, createdOn: "2015-02-02T21:55:09.8806423Z", updatedOn: "2024-01-01T00:00:00.0000000Z", createdBy: null, updatedBy: null },
  };
}

/** Role definitions at the tenant root are readable by every signed-in caller, as in ARM; below it, RBAC applies. */
function demandDefinitionRead(call: ArmCall, scope: string): void {
  if (scope) call.demand(`${DEFINITION_TYPE}/read`, scope);
}

/** `$filter` of role assignment lists: atScope(), principalId eq '...', assignedTo('...'), joined by "and". */
function parseAssignmentFilter(filter: string | null): { atScope: boolean; principalId?: string } {
  const out: { atScope: boolean; principalId?: string } = { atScope: false };
  if (!filter) return out;
  for (const clause of filter.split(/\s+and\s+/i)) {
    const c = clause.trim();
    let m: RegExpExecArray | null;
    if (/^atScope\(\)$/i.test(c)) out.atScope = true;
    else if ((m = /^principalId\s+eq\s+'([^']+)'$/i.exec(c))) out.principalId = m[1];
    else if ((m = /^assignedTo\('([^']+)'\)$/i.exec(c))) out.principalId = m[1];
    else throw new ArmFailure(ArmErrors.invalidFilter(filter));
  }
  return out;
}

/** Microsoft.Authorization: role definitions (built-in and custom) and role assignments at any scope. */
export class AuthorizationHandlers {
  listDefinitions = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    requireScope(call, scope);
    demandDefinitionRead(call, scope);
    const filter = call.req.query.get("$filter");
    let roles = [...BUILTIN_ROLES, ...Object.values(call.state.customRoles)];
    if (filter) {
      const byName = /^roleName\s+eq\s+'(.*)'$/i.exec(filter.trim());
      const byType = /^type\s+eq\s+'(BuiltInRole|CustomRole)'$/i.exec(filter.trim());
      if (byName) roles = roles.filter((r) => r.properties.roleName === byName[1].replace(/''/g, "'"));
      else if (byType) roles = roles.filter((r) => r.properties.type.toLowerCase() === byType[1].toLowerCase());
      else throw new ArmFailure(ArmErrors.invalidFilter(filter));
    }
    return { status: 200, body: page(roles.map((r) => definitionView(r, scope))) };
  };

  getDefinition = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    requireScope(call, scope);
    demandDefinitionRead(call, scope);
    const role = GUID.test(call.params.roleDefinitionId) ? roleByGuid(call.state, call.params.roleDefinitionId) : undefined;
    if (!role) throw new ArmFailure(ArmErrors.roleDefinitionDoesNotExist(call.params.roleDefinitionId));
    return { status: 200, body: definitionView(role, scope) };
  };

  createOrUpdateDefinition = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    requireScope(call, scope);
    call.demand(`${DEFINITION_TYPE}/write`, scope || "/");
    const guid = call.params.roleDefinitionId.toLowerCase();
    if (!GUID.test(guid)) throw new ArmFailure(ArmErrors.invalidRoleDefinitionId(guid));
    if (BUILTIN_ROLES.some((r) => r.name === guid)) throw new ArmFailure(ArmErrors.authorizationFailed(call.caller, `${DEFINITION_TYPE}/write`, scope));
    const body = call.body<{ properties?: Partial<RoleDefinition["properties"]> }>();
    const p = body.properties ?? {};
    const role: RoleDefinition = {
      name: guid,
      properties: {
        roleName: p.roleName ?? guid,
        description: p.description ?? "",
        type: "CustomRole",
        assignableScopes: p.assignableScopes?.length ? p.assignableScopes : [scope],
        permissions: (p.permissions ?? []).map((x) => ({ actions: x.actions ?? [], notActions: x.notActions ?? [], dataActions: x.dataActions ?? [], notDataActions: x.notDataActions ?? [] })),
      },
    };
    const existed = Boolean(call.state.customRoles[guid]);
    call.state.customRoles[guid] = role;
    call.changed();
    return { status: existed ? 200 : 201, body: definitionView(role, scope) };
  };

  deleteDefinition = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    call.demand(`${DEFINITION_TYPE}/delete`, scope || "/");
    const guid = call.params.roleDefinitionId.toLowerCase();
    const role = call.state.customRoles[guid];
    if (!role) return { status: 204 };
    if (Object.values(call.state.roleAssignments).some((a) => guidOfRoleId(a.properties.roleDefinitionId) === guid)) throw new ArmFailure(ArmErrors.roleDefinitionHasAssignments());
    delete call.state.customRoles[guid];
    call.changed();
    return { status: 200, body: definitionView(role, scope) };
  };

  createAssignment = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    const name = call.params.roleAssignmentName;
    if (!GUID.test(name)) throw new ArmFailure(ArmErrors.invalidRoleAssignmentId(name));
    requireScope(call, scope);
    call.demand(`${ASSIGNMENT_TYPE}/write`, scope || "/");
    const body = call.body<{ properties?: { roleDefinitionId?: string; principalId?: string; principalType?: string; description?: string; condition?: string; conditionVersion?: string } }>();
    const p = body.properties ?? {};
    if (!p.principalId || !GUID.test(p.principalId)) throw new ArmFailure(ArmErrors.invalidPrincipalId());
    if (!p.roleDefinitionId) throw new ArmFailure(ArmErrors.invalidRoleDefinitionId(""));
    if (!/^\/(subscriptions|providers)\//i.test(p.roleDefinitionId)) throw new ArmFailure(ArmErrors.linkedInvalidPropertyId(p.roleDefinitionId, "properties.roleDefinitionId"));
    const roleGuid = guidOfRoleId(p.roleDefinitionId);
    if (!GUID.test(roleGuid)) throw new ArmFailure(ArmErrors.invalidRoleDefinitionId(p.roleDefinitionId));
    if (!roleByGuid(call.state, roleGuid)) throw new ArmFailure(ArmErrors.roleDefinitionDoesNotExist(roleGuid, 400));
    // Entra ID replication: a principal created moments ago is not yet known to the authorization service.
    // Real ARM sometimes skips this lookup when principalType is set; the sandbox always applies it, so that
    // clients' retry paths are exercised every time.
    const principal = call.state.principals[p.principalId.toLowerCase()];
    if (!principal || call.ctx.now() < principal.visibleAt) throw new ArmFailure(ArmErrors.principalNotFound(p.principalId, call.state.tenantId));
    const id = `${scope}/providers/${ASSIGNMENT_TYPE}/${name}`;
    const roleDefinitionId = `${subscriptionPrefix(scope)}/providers/${DEFINITION_TYPE}/${roleGuid}`;
    const existing = call.state.roleAssignments[key(id)];
    const same = (a: RoleAssignment) =>
      key(a.properties.scope) === key(scope) && guidOfRoleId(a.properties.roleDefinitionId) === roleGuid && a.properties.principalId.toLowerCase() === p.principalId!.toLowerCase();
    if (existing) {
      if (!same(existing)) throw new ArmFailure(ArmErrors.roleAssignmentUpdateNotPermitted());
      existing.properties.description = p.description ?? existing.properties.description;
      existing.properties.updatedOn = new Date(call.ctx.now()).toISOString();
      call.changed();
      return { status: 201, body: existing };
    }
    if (Object.values(call.state.roleAssignments).some(same)) throw new ArmFailure(ArmErrors.roleAssignmentExists());
    const now = new Date(call.ctx.now()).toISOString();
    const assignment: RoleAssignment = {
      id,
      name,
      type: ASSIGNMENT_TYPE,
      properties: {
        roleDefinitionId,
        principalId: p.principalId,
        principalType: p.principalType ?? (principal.kind === "managedIdentity" || principal.kind === "application" ? "ServicePrincipal" : "User"),
        scope: scope || "/",
        ...(p.description !== undefined ? { description: p.description } : {}),
        ...(p.condition ? { condition: p.condition, conditionVersion: p.conditionVersion ?? "2.0" } : {}),
        createdOn: now,
        updatedOn: now,
        createdBy: call.caller,
        updatedBy: call.caller,
      },
    };
    call.state.roleAssignments[key(id)] = assignment;
    call.changed();
    return { status: 201, body: assignment };
  };

  getAssignment = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    requireScope(call, scope);
    call.demand(`${ASSIGNMENT_TYPE}/read`, scope || "/");
    const assignment = call.state.roleAssignments[key(`${scope}/providers/${ASSIGNMENT_TYPE}/${call.params.roleAssignmentName}`)];
    if (!assignment) throw new ArmFailure(ArmErrors.roleAssignmentNotFound(call.params.roleAssignmentName));
    return { status: 200, body: assignment };
  };

  deleteAssignment = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    call.demand(`${ASSIGNMENT_TYPE}/delete`, scope || "/");
    const k = key(`${scope}/providers/${ASSIGNMENT_TYPE}/${call.params.roleAssignmentName}`);
    const assignment = call.state.roleAssignments[k];
    if (!assignment) return { status: 204 };
    delete call.state.roleAssignments[k];
    call.changed();
    return { status: 200, body: assignment };
  };

  /** At a scope: assignments at, above and below it; with atScope(), at and above only. */
  listAssignments = (call: ArmCall): SandboxResponse => {
    const scope = normalizeScope(call.params.scope);
    requireScope(call, scope);
    call.demand(`${ASSIGNMENT_TYPE}/read`, scope || "/");
    const filter = parseAssignmentFilter(call.req.query.get("$filter"));
    const items = Object.values(call.state.roleAssignments).filter((a) => {
      const above = scopeContains(a.properties.scope, scope || "/");
      const below = scopeContains(scope, a.properties.scope);
      if (filter.atScope ? !above : !(above || below)) return false;
      return !filter.principalId || a.properties.principalId.toLowerCase() === filter.principalId.toLowerCase();
    });
    return { status: 200, body: page(items) };
  };
}
