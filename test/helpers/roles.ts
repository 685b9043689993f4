import type { AuthorizationManagementClient } from "@azure/arm-authorization";

/** Built-in roles the kubelet identity needs (by GUID). */
export const VIRTUAL_MACHINE_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
export const MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830";

/** Deletes a principal's assignments of a role (by GUID) at any scope; how many were deleted. */
export async function revokeRole(auth: AuthorizationManagementClient, principalId: string, roleGuid: string): Promise<number> {
  let n = 0;
  for await (const a of auth.roleAssignments.listForSubscription({ filter: `principalId eq '${principalId}'` })) {
    if (a.roleDefinitionId!.toLowerCase().endsWith(roleGuid)) {
      await auth.roleAssignments.deleteById(a.id!);
      n++;
    }
  }
  return n;
}
