import type { RoleAssignment } from "@azure/arm-authorization";
import { IdentityService, type UserAssignedIdentity } from "../azure/identities.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { RoleService, type RoleGrant } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { identityGrantDescription, isKubeletGrantFor, sameResourceId, type RoleAtScope } from "./record.js";

/** What Azure still shows of what podid made for one AzureIdentity. */
export interface AzureTrace {
  identity?: UserAssignedIdentity;
  roles: RoleAtScope[];
  roleAssignments: RoleGrant[];
}

const toGrant = (a: RoleAssignment): RoleGrant => ({ principalId: a.principalId!.toLowerCase(), roleDefinitionId: a.roleDefinitionId!, scope: a.scope! });

/**
 * The assignments podid made for AzureIdentity namespace/name on `identity`: the identity's own (its principal,
 * podid's description for that AzureIdentity) and the kubelet identity's on it (its scope, podid's description).
 * Never by description alone: without the identity, nothing.
 */
export function podidAssignmentsFor(assignments: readonly RoleAssignment[], namespace: string, name: string, identity: UserAssignedIdentity | undefined): RoleAssignment[] {
  if (!identity) return [];
  const own = identityGrantDescription(namespace, name);
  return assignments.filter(
    (a) =>
      a.principalId &&
      a.roleDefinitionId &&
      a.scope &&
      ((a.principalId.toLowerCase() === identity.principalId.toLowerCase() && a.description === own) || (sameResourceId(a.scope, identity.id) && isKubeletGrantFor(a.description ?? "", namespace, name))),
  );
}

/**
 * Finds, from Azure alone, the identity podid made or adopted for AzureIdentity namespace/name and the roles it
 * granted: for when the AzureIdentity (and the record on it) is gone. The descriptions only point the way; the
 * identity is confirmed by its principal (the assignments' own) or its resource id (the kubelet's grant's scope).
 */
export async function traceInAzure(azure: AzureSession, namespace: string, name: string, assignments?: readonly RoleAssignment[]): Promise<AzureTrace> {
  const roles = new RoleService(azure);
  const identities = new IdentityService(azure);
  const all = assignments ?? (await roles.listAll());
  const own = all.filter((a) => a.description === identityGrantDescription(namespace, name) && a.principalId);
  const principals = new Set(own.map((a) => a.principalId!.toLowerCase()));
  let identity: UserAssignedIdentity | undefined;
  for (const a of all.filter((x) => isKubeletGrantFor(x.description ?? "", namespace, name) && x.scope)) {
    let id;
    try {
      id = parseResourceId(a.scope!, USER_ASSIGNED_IDENTITY_TYPE);
    } catch {
      continue;
    }
    const found = await identities.get(id.resourceGroup, id.name);
    if (found && (!principals.size || principals.has(found.principalId.toLowerCase()))) {
      identity = found;
      break;
    }
  }
  if (!identity && principals.size) identity = (await identities.listAll()).find((i) => principals.has(i.principalId.toLowerCase()));
  const made = podidAssignmentsFor(all, namespace, name, identity);
  const rolesHeld: RoleAtScope[] = [];
  for (const a of made.filter((x) => x.principalId!.toLowerCase() === identity?.principalId.toLowerCase())) {
    rolesHeld.push({ role: (await roles.resolve(a.roleDefinitionId!)).roleName, roleDefinitionId: a.roleDefinitionId!, scope: a.scope! });
  }
  return { identity, roles: rolesHeld, roleAssignments: made.map(toGrant) };
}
