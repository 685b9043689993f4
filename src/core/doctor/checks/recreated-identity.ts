import { TOKEN_FAILED } from "../../../aadpodidentity/contract/messages.js";
import { IdentityType } from "../../../aadpodidentity/types.js";
import { identitySpec, invalidIdentityReason } from "../../../aadpodidentity/spec.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { identityAddFix, identityRef } from "./azure-identities.js";

/**
 * 16. An AzureIdentity whose clientID is not the client id of the Azure identity at its resourceID: the identity
 * was deleted and re-created under the same name (or the clientID was mistyped). NMI asks IMDS for the old client
 * id, which the node does not have.
 */
export const recreatedIdentityCheck: Check = {
  id: "recreated-identity",
  number: 16,
  title: "each AzureIdentity's clientID matches the Azure identity at its resourceID",
  async run(ctx) {
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = {};
    const identities = (await ctx.identities()).filter((i) => !invalidIdentityReason(i) && identitySpec(i).type === IdentityType.userAssignedMSI && identitySpec(i).clientID);
    await Promise.all(
      identities.map(async (identity) => {
        const { resourceID, clientID } = identitySpec(identity);
        const azure = await ctx.azureIdentity(resourceID);
        if (!azure) return; // check 7 reports a missing identity
        const matches = azure.clientId.toLowerCase() === clientID.toLowerCase();
        observed[`${identity.metadata.namespace}/${identity.metadata.name}`] = { clientID, azureClientId: azure.clientId, matches };
        if (matches) return;
        const ref = identityRef(identity);
        findings.push(
          finding("fail", `${ref} has clientID ${clientID}, but ${resourceID} now has client id ${azure.clientId}: the identity was deleted and re-created (or the clientID is mistyped), so the node's IMDS does not know the old client id`, {
            errors: ["Identity not found", TOKEN_FAILED, `clientID ${clientID}`],
            fix: await identityAddFix(ctx, identity, resourceID),
            objects: [ref, resourceID, clientID, azure.clientId],
          }),
        );
      }),
    );
    return { observed, findings };
  },
};
