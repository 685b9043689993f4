import type { RoleAssignment } from "@azure/arm-authorization";
import { IdentityService, type UserAssignedIdentity } from "../azure/identities.js";
import { parseResourceId, sameResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { grantOf, madeByPodid, RoleService, type RoleGrant } from "../azure/roles.js";
import type { AzureSession } from "../azure/session.js";
import { identityGrantDescription, isKubeletGrantFor, type RoleAtScope } from "./record.js";

/** What Azure still shows of what podid made for one AzureIdentity. */
export interface AzureTrace {
  identity?: UserAssignedIdentity;
  roles: RoleAtScope[];
  roleAssignments: RoleGrant[];
  /** When the identity is gone too: the assignments podid made for it that are left (orphaned), and where it was. */
  orphaned: RoleAssignment[];
  formerResourceId?: string;
}

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
 * The assignments podid made for AzureIdentity namespace/name that outlived their identity: the identity's own
 * (podid's description for that AzureIdentity, a principal no user-assigned identity has any more) and the kubelet's
 * on it (podid's description, scoped to an identity that no longer exists). What `identity delete` removes and
 * doctor recovers the roles from when both the AzureIdentity and the Azure identity were deleted by hand.
 */
export function orphanedAssignmentsFor(assignments: readonly RoleAssignment[], namespace: string, name: string, live: readonly UserAssignedIdentity[]): RoleAssignment[] {
  const principals = new Set(live.map((i) => i.principalId.toLowerCase()));
  return assignments.filter(
    (a) =>
      madeByPodid(a) &&
      ((a.description === identityGrantDescription(namespace, name) && !principals.has(a.principalId!.toLowerCase())) ||
        (isKubeletGrantFor(a.description ?? "", namespace, name) && isIdentityId(a.scope!) && !live.some((i) => sameResourceId(i.id, a.scope)))),
  );
}

function isIdentityId(scope: string): boolean {
  try {
    parseResourceId(scope, USER_ASSIGNED_IDENTITY_TYPE);
    return true;
  } catch {
    return false;
  }
}

/** The subscription's role assignments and user-assigned identities, listed once for every lookup that needs them. */
export interface AzureListing {
  assignments: readonly RoleAssignment[];
  identities: readonly UserAssignedIdentity[];
}

export async function listAzure(azure: AzureSession): Promise<AzureListing> {
  const [assignments, identities] = await Promise.all([new RoleService(azure).listAll(), new IdentityService(azure).listAll()]);
  return { assignments, identities };
}

/**
 * Finds, from Azure alone, the identity podid made or adopted for AzureIdentity namespace/name and the roles it
 * granted: for when the AzureIdentity (and the record on it) is gone. The descriptions only point the way; the
 * identity is confirmed by its principal (the assignments' own) or its resource id (the kubelet's grant's scope).
 */
export async function traceInAzure(azure: AzureSession, namespace: string, name: string, listing?: AzureListing): Promise<AzureTrace> {
  const roles = new RoleService(azure);
  const identities = new IdentityService(azure);
  const all = listing?.assignments ?? (await roles.listAll());
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
  const live = principals.size || !identity ? (listing?.identities ?? (await identities.listAll())) : [];
  if (!identity && principals.size) identity = live.find((i) => principals.has(i.principalId.toLowerCase()));
  const made = podidAssignmentsFor(all, namespace, name, identity);
  // Both the AzureIdentity and its identity deleted by hand: the roles are still read off what podid made for it.
  const orphaned = identity ? [] : orphanedAssignmentsFor(all, namespace, name, live);
  const held = identity ? made.filter((x) => x.principalId!.toLowerCase() === identity?.principalId.toLowerCase()) : orphaned.filter((x) => x.description === identityGrantDescription(namespace, name));
  const rolesHeld: RoleAtScope[] = [];
  for (const a of held) {
    const role = await roles.nameOf(a.roleDefinitionId!);
    if (role && !rolesHeld.some((r) => sameResourceId(r.scope, a.scope) && r.role === role)) rolesHeld.push({ role, roleDefinitionId: a.roleDefinitionId!, scope: a.scope! });
  }
  const formerResourceId = orphaned.find((a) => isKubeletGrantFor(a.description ?? "", namespace, name))?.scope;
  return { identity, roles: rolesHeld, roleAssignments: made.map(grantOf), orphaned, ...(formerResourceId ? { formerResourceId } : {}) };
}
