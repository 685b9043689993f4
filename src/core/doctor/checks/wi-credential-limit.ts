import { MAX_FEDERATED_CREDENTIALS } from "../../../azure/federated-credentials.js";
import type { UserAssignedIdentity } from "../../../azure/identities.js";
import { CLIENT_ID_ANNOTATION } from "../../../kube/workload-identity.js";
import { identitySpec } from "../../../aadpodidentity/spec.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { credentialsOf, federatedServiceAccounts, identityByClientId } from "./workload-identity.js";

/** Warned from this many on: two more ServiceAccounts and the identity is full. */
const NEAR = MAX_FEDERATED_CREDENTIALS - 2;

/**
 * 24. The identities the scope's ServiceAccounts name, and those its AzureIdentities would move to workload
 * identity, hold fewer than Entra ID's 20 federated credentials: at 20, no further ServiceAccount (or cluster) can
 * be federated with the identity.
 */
export const wiCredentialLimitCheck: Check = {
  id: "wi-credential-limit",
  number: 24,
  title: "workload identity: identities have room for federated credentials (at most 20 each)",
  async run(ctx) {
    const [accounts, azureIdentities] = await Promise.all([federatedServiceAccounts(ctx), ctx.identities().catch(() => [])]);
    const identities = new Map<string, UserAssignedIdentity | { id: string; name: string; resourceGroup: string }>();
    for (const a of accounts) {
      const found = await identityByClientId(ctx, a.metadata!.annotations![CLIENT_ID_ANNOTATION]);
      if (found) identities.set(found.id.toLowerCase(), found);
    }
    for (const i of azureIdentities) {
      const { type, resourceID } = identitySpec(i);
      if (type !== 0 || !resourceID) continue;
      const parts = resourceID.split("/");
      if (!identities.has(resourceID.toLowerCase())) identities.set(resourceID.toLowerCase(), { id: resourceID, name: parts[parts.length - 1], resourceGroup: parts[4] ?? "" });
    }
    const observed: Record<string, number> = {};
    const findings: Finding[] = [];
    for (const identity of identities.values()) {
      const count = (await credentialsOf(ctx, identity.id).catch(() => undefined))?.length;
      if (count === undefined) continue;
      observed[identity.id] = count;
      if (count < NEAR) continue;
      findings.push(
        finding("warn", `identity ${identity.name} holds ${count} of ${MAX_FEDERATED_CREDENTIALS} federated credentials: ${count >= MAX_FEDERATED_CREDENTIALS ? "no further ServiceAccount or cluster can be federated with it" : `room for ${MAX_FEDERATED_CREDENTIALS - count} more`}`, {
          errors: ["Too many Federated Identity Credentials", "A managed identity can have at most 20 Federated Identity Credentials"],
          fix: `az identity federated-credential list --identity-name ${identity.name} --resource-group ${identity.resourceGroup} -o table   # delete those no ServiceAccount uses: az identity federated-credential delete --name NAME --identity-name ${identity.name} --resource-group ${identity.resourceGroup}`,
          objects: [identity.id],
        }),
      );
    }
    return { observed, findings };
  },
};
