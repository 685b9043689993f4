import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../../azure/resource-id.js";
import { IdentityType, type AzureIdentity } from "../../../aadpodidentity/types.js";
import { identitySpec, invalidIdentityReason } from "../../../aadpodidentity/spec.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { nameRecordedRoles, readIdentityRecord, type IdentityRecord } from "../../record.js";
import { identityAddCommand } from "../../repair-commands.js";
import { clusterIfKnown } from "./fixes.js";

export const identityRef = (i: AzureIdentity) => `AzureIdentity ${i.metadata.namespace}/${i.metadata.name}`;

/**
 * `podid identity add` that brings the AzureIdentity back to its record: the same Azure identity (its group, and
 * --identity-resource-id when its name differs), the roles at their scopes, the cluster when known. It re-creates
 * the identity when it is gone and re-applies the AzureIdentity with the current client id.
 */
export async function identityAddFix(ctx: DoctorContext, identity: { metadata: { name: string; namespace?: string; annotations?: Record<string, string> } }, resourceId: string | undefined, group?: string): Promise<string> {
  const { record } = await checkedRecord(ctx, identity.metadata.annotations);
  const cluster = await clusterIfKnown(ctx);
  return identityAddCommand({
    name: identity.metadata.name,
    namespace: identity.metadata.namespace ?? "default",
    resourceId: record.resourceId ?? (resourceId && safeParse(resourceId) ? resourceId : undefined),
    group,
    roles: record.roles,
    cluster: cluster ? { name: cluster.name, resourceGroup: cluster.resourceGroup } : undefined,
  });
}

/**
 * The record on an AzureIdentity, every role named by Azure from its definition (nameRecordedRoles): doctor builds
 * fixes from it, so nothing in it is taken on the annotation's word. Without Azure, no recorded role is used.
 */
export function checkedRecord(ctx: DoctorContext, annotations: Record<string, string> | undefined): Promise<{ record: IdentityRecord; problems: string[] }> {
  return ctx.cached(`record|${JSON.stringify(annotations ?? {})}`, async () => {
    const read = readIdentityRecord(annotations);
    try {
      const named = await nameRecordedRoles(read.record, (id) => ctx.roles.nameOf(id));
      return { record: named.record, problems: [...read.problems, ...named.problems] };
    } catch {
      return { record: { ...read.record, roles: [], roleAssignments: [] }, problems: read.problems };
    }
  });
}

/** The roles the record says the identity holds ("Reader at /subscriptions/..."), that it no longer holds there or above. */
async function missingRoles(ctx: DoctorContext, identity: AzureIdentity, principalId: string): Promise<string[]> {
  const { record } = await checkedRecord(ctx, identity.metadata.annotations);
  const missing: string[] = [];
  for (const r of record.roles) {
    const held = await ctx.cached(`holds|${principalId}|${r.roleDefinitionId}|${r.scope.toLowerCase()}`, async () => ctx.roles.holds(principalId, await ctx.roles.resolve(r.roleDefinitionId), r.scope)).catch(() => "unknown" as const);
    if (!held) missing.push(`${r.role} at ${r.scope}`);
  }
  return missing;
}

export function safeParse(resourceId: string) {
  try {
    return parseResourceId(resourceId, USER_ASSIGNED_IDENTITY_TYPE);
  } catch {
    return undefined;
  }
}

/**
 * 7. Each AzureIdentity: a valid type, a resourceID and clientID MIC and NMI can use, and a user-assigned identity
 * that exists in Azure. (A clientID that no longer matches is check 16; old field casing is check 19.)
 */
export const azureIdentitiesCheck: Check = {
  id: "azure-identities",
  number: 7,
  title: "each AzureIdentity exists in Azure, with a valid type and fields",
  async run(ctx) {
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = {};
    const identities = await ctx.identities();
    await Promise.all(
      identities.map(async (identity) => {
        const ref = identityRef(identity);
        const { type, resourceID, clientID } = identitySpec(identity);
        const invalid = invalidIdentityReason(identity);
        const entry: Record<string, unknown> = { type, resourceID, clientID };
        observed[`${identity.metadata.namespace}/${identity.metadata.name}`] = entry;
        const { problems } = await checkedRecord(ctx, identity.metadata.annotations);
        if (problems.length) {
          entry.recordProblems = problems;
          findings.push(finding("warn", `${ref} carries a record podid did not write: ${problems.join("; ")}`, { objects: [ref] }));
        }
        if (invalid) {
          findings.push(finding("fail", `${ref} is not usable: ${invalid}; MIC skips it and its pods get no identity`, { errors: [invalid], fix: await identityAddFix(ctx, identity, safeParse(resourceID) ? resourceID : undefined), objects: [ref] }));
          return;
        }
        if (type !== IdentityType.userAssignedMSI) {
          if (!clientID) findings.push(finding("fail", `${ref} (type ${type}, a service principal) has no clientID`, { fix: `kubectl edit azureidentity ${identity.metadata.name} -n ${identity.metadata.namespace}`, objects: [ref] }));
          return;
        }
        if (!clientID) {
          findings.push(finding("fail", `${ref} has no clientID: NMI cannot match token requests to it`, { errors: ["clientID is empty"], fix: await identityAddFix(ctx, identity, resourceID), objects: [ref, resourceID] }));
        }
        const azure = await ctx.azureIdentity(resourceID);
        entry.exists = Boolean(azure);
        if (!azure) {
          findings.push(
            finding("fail", `${ref} names ${resourceID}, which does not exist in Azure: MIC's scale-set update fails and pods get no token`, {
              errors: ["FailedIdentityOperation", "Identity not found", `The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/${safeParse(resourceID)?.name ?? ""}' under resource group '${safeParse(resourceID)?.resourceGroup ?? ""}' was not found`],
              fix: await identityAddFix(ctx, identity, resourceID),
              objects: [ref, resourceID],
            }),
          );
          return;
        }
        entry.azureClientId = azure.clientId;
        entry.principalId = azure.principalId;
        const missing = await missingRoles(ctx, identity, azure.principalId);
        if (missing.length) {
          entry.missingRoles = missing;
          findings.push(
            finding("warn", `${ref}'s identity lacks ${missing.join(", ")}, recorded on the AzureIdentity as what it holds: the pods get tokens, but Azure refuses what those roles allowed`, {
              errors: ["AuthorizationFailed", "does not have authorization to perform action"],
              fix: await identityAddFix(ctx, identity, resourceID),
              objects: [ref, resourceID, azure.principalId],
            }),
          );
        }
      }),
    );
    return { observed, findings };
  },
};
