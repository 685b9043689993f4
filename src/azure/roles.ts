import { createHash } from "node:crypto";
import type { RoleAssignment, RoleDefinition } from "@azure/arm-authorization";
import { ArmCode, AzureCode, AzureError, UsageCode, UsageError } from "../errors/index.js";
import { retry } from "../util/retry.js";
import { fromAzureError, hasCode, isTransient } from "./errors.js";
import { permitsAction, scopeCovers } from "./permissions.js";
import { canonicalScope } from "./resource-id.js";
import type { AzureSession } from "./session.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Built-in role ids podid grants itself, so no lookup by name is needed for them. */
export const BUILTIN_ROLES = {
  reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  managedIdentityOperator: "f1a07417-d97a-45cb-824c-7a7467783830",
  virtualMachineContributor: "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
} as const;

export interface ResolvedRole {
  id: string;
  guid: string;
  roleName: string;
  permissions: { actions?: string[]; notActions?: string[] }[];
}

function guidOf(roleDefinitionId: string): string {
  return roleDefinitionId.split("/").pop()!.toLowerCase();
}

function toResolved(def: RoleDefinition): ResolvedRole {
  return { id: def.id!, guid: guidOf(def.id!), roleName: def.roleName ?? def.name ?? "", permissions: def.permissions ?? [] };
}

/**
 * A role assignment's name derived from what it grants, as a name-based (v5-style) GUID: running the same
 * grant again addresses the same assignment, so a re-run is a no-op instead of a duplicate.
 */
export function assignmentName(scope: string, roleGuid: string, principalId: string): string {
  const hash = createHash("sha1").update(`podid|${scope.toLowerCase()}|${roleGuid.toLowerCase()}|${principalId.toLowerCase()}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * One role assignment as podid records it: who holds which role where. Two grants are the same when principal,
 * role and scope are (case-insensitively, the role by its GUID): that is how podid finds its assignments again.
 */
export interface RoleGrant {
  principalId: string;
  roleDefinitionId: string;
  scope: string;
  /** The role's name when it was granted, for people reading the record. */
  role?: string;
}

/** Every description podid writes on an assignment starts so: the second key (after principal, role, scope). */
export const PODID_DESCRIPTION_PREFIX = "podid: ";

export function roleGuidOf(roleDefinitionId: string): string {
  return guidOf(roleDefinitionId);
}

/** An assignment as the grant it makes (principal, role, scope); for assignments read whole from ARM. */
export function grantOf(a: RoleAssignment): RoleGrant {
  return { principalId: a.principalId!.toLowerCase(), roleDefinitionId: a.roleDefinitionId!, scope: a.scope! };
}

/** Principal, role and scope as one comparable key. */
export function grantKey(grant: Pick<RoleGrant, "principalId" | "roleDefinitionId" | "scope">): string {
  return `${grant.principalId.toLowerCase()}|${guidOf(grant.roleDefinitionId)}|${canonicalScope(grant.scope)}`;
}

/** An assignment that is exactly this grant (principal, role, scope), and that podid made: its derived name, or podid's description. */
export function isPodidsAssignment(assignment: RoleAssignment, grant: RoleGrant): boolean {
  const same = assignment.principalId && assignment.roleDefinitionId && assignment.scope && grantKey({ principalId: assignment.principalId, roleDefinitionId: assignment.roleDefinitionId, scope: assignment.scope }) === grantKey(grant);
  if (!same) return false;
  return assignment.name?.toLowerCase() === assignmentName(grant.scope, guidOf(grant.roleDefinitionId), grant.principalId) || (assignment.description ?? "").startsWith(PODID_DESCRIPTION_PREFIX);
}

/**
 * Made by podid by both of its marks: its derived name for exactly what it grants, and podid's description. The
 * stricter test, for assignments whose principal is gone (no record or identity left to match them to).
 */
export function madeByPodid(a: RoleAssignment): boolean {
  return Boolean(a.principalId && a.roleDefinitionId && a.scope && a.name && (a.description ?? "").startsWith(PODID_DESCRIPTION_PREFIX) && a.name.toLowerCase() === assignmentName(a.scope, guidOf(a.roleDefinitionId), a.principalId));
}

async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
}

/** How long a grant waits out Entra ID replication, and then again for the new assignment to show. */
export const ROLE_WAIT_MS = 120_000;
/** The longest a grant (assign) takes: both of those waits. */
export const ROLE_GRANT_LIMIT_MS = 2 * ROLE_WAIT_MS;

export class RoleService {
  private readonly definitions = new Map<string, ResolvedRole>();

  constructor(private readonly azure: AzureSession) {}

  /** A role by name ("Reader"), GUID or full id. */
  async resolve(role: string): Promise<ResolvedRole> {
    const key = role.toLowerCase();
    const cached = this.definitions.get(key);
    if (cached) return cached;
    const scope = this.azure.subscriptionScope;
    let found: RoleDefinition | undefined;
    try {
      if (GUID.test(role) || role.includes("/providers/Microsoft.Authorization/roleDefinitions/")) {
        found = await this.azure.authorization.roleDefinitions.get(scope, guidOf(role));
      } else {
        const list = await collect(this.azure.authorization.roleDefinitions.list(scope, { filter: `roleName eq '${role.replace(/'/g, "''")}'` }));
        found = list[0];
      }
    } catch (err) {
      if (!hasCode(err, ArmCode.RoleDefinitionDoesNotExist, ArmCode.NotFound, ArmCode.ResourceNotFound)) throw fromAzureError(err, `looking up role '${role}'`);
    }
    if (!found?.id) {
      throw new UsageError(`unknown role '${role}'`, "Give a role name such as Reader, or its id; list them with: az role definition list --query \"[].roleName\" -o tsv", UsageCode.UnknownRole);
    }
    const resolved = toResolved(found);
    this.definitions.set(key, resolved);
    this.definitions.set(resolved.guid, resolved);
    return resolved;
  }

  /** A role definition's name, from Azure; undefined when no such definition exists. */
  async nameOf(roleDefinitionId: string): Promise<string | undefined> {
    try {
      return (await this.resolve(roleDefinitionId)).roleName;
    } catch (err) {
      if (err instanceof UsageError && err.code === UsageCode.UnknownRole) return undefined;
      throw err;
    }
  }

  /**
   * Assignments of a principal that apply at `scope`: at it or any ancestor. Listed at the subscription, so the
   * scope itself need not exist yet (a dry run before the identity is made).
   */
  async assignmentsCovering(principalId: string, scope: string): Promise<RoleAssignment[]> {
    return (await this.ofPrincipal(principalId)).filter((a) => a.scope && scopeCovers(a.scope, scope));
  }

  /** Whether the principal can do `action` at `scope` through any role it holds there or above; custom roles count. */
  async isAllowed(principalId: string, action: string, scope: string): Promise<boolean> {
    for (const a of await this.assignmentsCovering(principalId, scope)) {
      const role = await this.resolve(a.roleDefinitionId!);
      if (permitsAction(role.permissions, action)) return true;
    }
    return false;
  }

  /** Whether this exact role is held at this scope or a wider one. */
  async holds(principalId: string, role: ResolvedRole, scope: string): Promise<RoleAssignment | undefined> {
    return (await this.assignmentsCovering(principalId, scope)).find((a) => guidOf(a.roleDefinitionId!) === role.guid);
  }

  /**
   * Creates the assignment under its deterministic name. RoleAssignmentExists means it is there already;
   * PrincipalNotFound (Entra ID replication of a new identity) is waited out with backoff, bounded.
   */
  async assign(
    input: { scope: string; role: ResolvedRole; principalId: string; description: string },
    progress?: (message: string) => void,
    maxWaitMs = ROLE_WAIT_MS,
  ): Promise<{ assignment?: RoleAssignment; created: boolean }> {
    const name = assignmentName(input.scope, input.role.guid, input.principalId);
    try {
      const assignment = await retry(
        () =>
          this.azure.authorization.roleAssignments.create(input.scope, name, {
            roleDefinitionId: input.role.id,
            principalId: input.principalId,
            principalType: "ServicePrincipal",
            description: input.description,
          }),
        {
          retryable: isTransient,
          maxElapsedMs: maxWaitMs,
          initialDelayMs: 1000,
          // A state, not a line per retry: it is shown again only when it changes.
          onRetry: ({ error }) => progress?.(hasCode(error, ArmCode.PrincipalNotFound) ? `waiting for Entra ID to replicate principal ${input.principalId}` : "Azure is busy; retrying"),
        },
      );
      await this.waitUntilVisible(input.principalId, input.role, input.scope, progress, maxWaitMs);
      return { assignment, created: true };
    } catch (err) {
      if (hasCode(err, ArmCode.RoleAssignmentExists)) return { created: false };
      throw fromAzureError(err, `granting '${input.role.roleName}' to ${input.principalId} at ${input.scope}`);
    }
  }

  /**
   * A new assignment takes a while to show in ARM's reads and decisions. Poll (never a fixed sleep) until it is
   * listed, bounded, and say what is still missing when the bound is hit.
   */
  private async waitUntilVisible(principalId: string, role: ResolvedRole, scope: string, progress: ((m: string) => void) | undefined, maxWaitMs: number): Promise<void> {
    class NotYetVisible extends Error {}
    try {
      await retry(
        async () => {
          if (!(await this.holds(principalId, role, scope))) throw new NotYetVisible();
        },
        {
          retryable: (e) => e instanceof NotYetVisible,
          maxElapsedMs: maxWaitMs,
          initialDelayMs: 500,
          onRetry: () => progress?.(`waiting for '${role.roleName}' at ${scope} to become effective`),
        },
      );
    } catch (err) {
      if (!(err instanceof NotYetVisible)) throw err;
      throw new AzureError(AzureCode.RoleAssignmentNotVisible, `'${role.roleName}' for ${principalId} at ${scope} was created but is not visible after ${Math.round(maxWaitMs / 1000)}s`, {
        remedy: "Azure is slow to propagate; run the same command again in a minute to check and finish.",
      });
    }
  }

  async remove(scope: string, name: string): Promise<boolean> {
    try {
      const deleted = await this.azure.authorization.roleAssignments.delete(scope, name);
      return Boolean(deleted?.id);
    } catch (err) {
      if (hasCode(err, ArmCode.RoleAssignmentNotFound, ArmCode.NotFound, ArmCode.ResourceNotFound)) return false;
      throw fromAzureError(err, `removing role assignment ${name} at ${scope}`);
    }
  }

  /** The assignment podid made for this grant (principal, role and scope exactly; see isPodidsAssignment), if it is there. */
  async podidsAssignment(grant: RoleGrant): Promise<RoleAssignment | undefined> {
    return (await this.assignmentsCovering(grant.principalId, grant.scope)).find((a) => isPodidsAssignment(a, grant));
  }

  /**
   * Removes the assignment podid made for this grant. "absent" when there is none: already gone, or the principal
   * holds that role there only through an assignment someone else made, which is not podid's to remove.
   */
  async removeGrant(grant: RoleGrant): Promise<"deleted" | "absent"> {
    const found = await this.podidsAssignment(grant);
    if (!found) return "absent";
    return (await this.remove(found.scope!, found.name!)) ? "deleted" : "absent";
  }

  /** Every role assignment in the subscription (and above it, as ARM lists them). */
  async listAll(): Promise<RoleAssignment[]> {
    try {
      return await collect(this.azure.authorization.roleAssignments.listForSubscription());
    } catch (err) {
      throw fromAzureError(err, "listing role assignments");
    }
  }

  /** Every assignment of one principal, anywhere in the subscription. */
  async ofPrincipal(principalId: string): Promise<RoleAssignment[]> {
    try {
      return await collect(this.azure.authorization.roleAssignments.listForSubscription({ filter: `principalId eq '${principalId}'` }));
    } catch (err) {
      throw fromAzureError(err, `listing role assignments of ${principalId}`);
    }
  }
}
