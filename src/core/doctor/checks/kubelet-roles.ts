import { parseResourceId, sameResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../../azure/resource-id.js";
import { IdentityType } from "../../../aadpodidentity/types.js";
import { identitySpec, invalidIdentityReason } from "../../../aadpodidentity/spec.js";
import { ASSIGN_ACTION } from "../../identity-add.js";
import { SCALE_SET_WRITE } from "../../install.js";
import { CheckSkipped, finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { readIdentityRecord } from "../../record.js";
import { identityAddFix } from "./azure-identities.js";
import { installFix } from "./fixes.js";

/**
 * 6. The kubelet identity (which MIC runs as) may write the node scale sets and assign each AzureIdentity's
 * user-assigned identity. Reads the real role assignments and the role definitions' actions (RoleService), so
 * custom roles and grants at any wider scope count.
 */
export const kubeletRolesCheck: Check = {
  id: "kubelet-roles",
  number: 6,
  title: "kubelet identity: Virtual Machine Contributor on the node resource group, Managed Identity Operator on each identity",
  async run(ctx) {
    const cluster = await ctx.aksCluster();
    const kubelet = cluster.kubelet.objectId;
    if (!kubelet) throw new CheckSkipped(`AKS cluster ${cluster.name} has no kubelet identity (identityProfile.kubeletidentity): it runs with a service principal, whose roles this check does not read yet`);
    const nodeScope = ctx.azure.resourceGroupScope(cluster.nodeResourceGroup);
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = { kubeletIdentity: { objectId: kubelet, clientId: cluster.kubelet.clientId, resourceId: cluster.kubelet.resourceId }, nodeResourceGroup: nodeScope };
    const kubeletRef = `kubelet identity ${cluster.kubelet.resourceId || kubelet}`;
    const canWrite = await ctx.isAllowed(kubelet, SCALE_SET_WRITE, nodeScope);
    observed.scaleSetWrite = canWrite;
    if (!canWrite) {
      findings.push(
        finding("fail", `the ${kubeletRef} (object id ${kubelet}) may not write the node scale sets in ${cluster.nodeResourceGroup} (${SCALE_SET_WRITE}): MIC cannot attach any identity`, {
          errors: ["AuthorizationFailed", `does not have authorization to perform action '${SCALE_SET_WRITE}'`],
          fix: `${await installFix(ctx)}   # or: az role assignment create --assignee-object-id ${kubelet} --assignee-principal-type ServicePrincipal --role "Virtual Machine Contributor" --scope ${nodeScope}`,
          objects: [kubelet, nodeScope],
        }),
      );
    }
    const assignable: Record<string, boolean> = {};
    const identities = (await ctx.identities()).filter((i) => !invalidIdentityReason(i) && identitySpec(i).type === IdentityType.userAssignedMSI);
    await Promise.all(
      identities.map(async (identity) => {
        const resourceId = identitySpec(identity).resourceID;
        const allowed = await ctx.isAllowed(kubelet, ASSIGN_ACTION, resourceId);
        assignable[resourceId] = allowed;
        if (allowed) return;
        const group = parseResourceId(resourceId, USER_ASSIGNED_IDENTITY_TYPE).resourceGroup;
        // podid identity add made this grant on the identity itself (its record says so): re-running it restores it there.
        const recorded = readIdentityRecord(identity.metadata.annotations).record.roleAssignments.some((g) => g.principalId === kubelet.toLowerCase() && sameResourceId(g.scope, resourceId));
        const fix = recorded ? await identityAddFix(ctx, identity, resourceId) : await installFix(ctx, "--identity-resource-group", group);
        findings.push(
          finding("fail", `the ${kubeletRef} may not assign ${resourceId} (AzureIdentity ${identity.metadata.namespace}/${identity.metadata.name}): MIC's scale-set update is refused and the pod's AzureAssignedIdentity stays Created`, {
            errors: ["LinkedAuthorizationFailed", `does not have permission to perform action '${ASSIGN_ACTION}'`],
            fix: `${fix}   # or: az role assignment create --assignee-object-id ${kubelet} --assignee-principal-type ServicePrincipal --role "Managed Identity Operator" --scope ${resourceId}`,
            objects: [kubelet, resourceId, `AzureIdentity ${identity.metadata.namespace}/${identity.metadata.name}`],
          }),
        );
      }),
    );
    observed.assign = assignable;
    return { observed, findings };
  },
};
