import { NO_IDENTITY_FOR_REQUEST, TOKEN_FAILED } from "../../../aadpodidentity/contract/messages.js";
import { IdentityType, type AzureAssignedIdentity, type AzureIdentity } from "../../../aadpodidentity/types.js";
import { identitySpec, invalidIdentityReason } from "../../../aadpodidentity/spec.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { identityAddFix, identityRef } from "./azure-identities.js";
import { workloadOf } from "./matching.js";

/** The AzureAssignedIdentities of pods in scope that carry this AzureIdentity (MIC's copy of it, as NMI uses it). */
async function assignmentsOf(ctx: DoctorContext, identity: AzureIdentity): Promise<AzureAssignedIdentity[]> {
  const all = await ctx.assignedIdentities().catch(() => [] as AzureAssignedIdentity[]);
  const { namespace, pod } = ctx.scope;
  return all.filter(
    (a) =>
      a.spec?.azureIdentityRef?.metadata?.name === identity.metadata.name &&
      (a.spec.azureIdentityRef.metadata.namespace ?? "default") === (identity.metadata.namespace ?? "default") &&
      (namespace === undefined || a.spec.podNamespace === namespace) &&
      (!pod || a.spec.pod === pod),
  );
}

/**
 * 16. An AzureIdentity whose clientID is not the client id of the Azure identity at its resourceID: the identity
 * was deleted and re-created under the same name (or the clientID was mistyped). NMI asks IMDS for the old client
 * id, which the node does not have. Also each bound pod's assignment: MIC's copy of the AzureIdentity is what NMI
 * answers with, so a pod whose assignment still carries the old client id gets no token until MIC updates it.
 */
export const recreatedIdentityCheck: Check = {
  id: "recreated-identity",
  number: 16,
  title: "each AzureIdentity's clientID, and its bound pods' assignments, match the Azure identity at its resourceID",
  async run(ctx) {
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = {};
    const identities = (await ctx.identities()).filter((i) => !invalidIdentityReason(i) && identitySpec(i).type === IdentityType.userAssignedMSI && identitySpec(i).clientID);
    await Promise.all(
      identities.map(async (identity) => {
        const { resourceID, clientID } = identitySpec(identity);
        const azure = await ctx.azureIdentity(resourceID);
        if (!azure) return; // check 7 reports a missing identity
        const current = azure.clientId.toLowerCase();
        const matches = current === clientID.toLowerCase();
        const assignments = await assignmentsOf(ctx, identity);
        const stale = assignments.filter((a) => identitySpec(a.spec.azureIdentityRef).clientID.toLowerCase() !== current);
        const holding = stale.map((a) => `${a.spec.podNamespace}/${a.spec.pod}`);
        observed[`${identity.metadata.namespace}/${identity.metadata.name}`] = { clientID, azureClientId: azure.clientId, matches, ...(assignments.length ? { podsWithOldClientId: holding } : {}) };
        const ref = identityRef(identity);
        if (!matches) {
          findings.push(
            finding("fail", `${ref} has clientID ${clientID}, but ${resourceID} now has client id ${azure.clientId}: the identity was deleted and re-created (or the clientID is mistyped), so the node's IMDS does not know the old client id${holding.length ? `; pod${holding.length === 1 ? "" : "s"} ${holding.join(", ")} get no token` : ""}`, {
              errors: ["Identity not found", TOKEN_FAILED, `clientID ${clientID}`],
              fix: await identityAddFix(ctx, identity, resourceID),
              objects: [ref, resourceID, clientID, azure.clientId, ...holding.map((p) => `Pod ${p}`)],
            }),
          );
          return;
        }
        // A pod that names its identity itself (AZURE_CLIENT_ID, as the Azure SDKs read it) keeps asking for that one.
        const pods = await ctx.pods().catch(() => []);
        for (const a of assignments) {
          const pod = pods.find((p) => p.metadata?.name === a.spec.pod && p.metadata?.namespace === a.spec.podNamespace);
          const asks = (pod?.spec?.containers ?? []).flatMap((c) => (c.env ?? []).filter((e) => e.name === "AZURE_CLIENT_ID" && e.value).map((e) => e.value!));
          const wrong = asks.find((v) => v.toLowerCase() !== current);
          if (!pod || !wrong) continue;
          const target = await workloadOf(ctx, pod);
          findings.push(
            finding("fail", `pod ${a.spec.podNamespace}/${a.spec.pod} asks for client id ${wrong} (AZURE_CLIENT_ID), but its ${ref} has client id ${azure.clientId}: NMI refuses the old one`, {
              errors: [NO_IDENTITY_FOR_REQUEST, `clientID ${wrong}`],
              fix: `kubectl set env ${target} -n ${a.spec.podNamespace} AZURE_CLIENT_ID=${azure.clientId}`,
              objects: [`Pod ${a.spec.podNamespace}/${a.spec.pod}`, ref, azure.clientId],
            }),
          );
        }
        for (const a of stale) {
          const carried = identitySpec(a.spec.azureIdentityRef).clientID;
          const aai = `${a.metadata.namespace ?? "default"}/${a.metadata.name}`;
          findings.push(
            finding("fail", `pod ${a.spec.podNamespace}/${a.spec.pod} is assigned ${ref} with client id ${carried || "(none)"} (AzureAssignedIdentity ${aai}), but ${resourceID} has client id ${azure.clientId}: MIC has not updated the assignment, so NMI asks for the old client id and the pod gets no token`, {
              errors: ["Identity not found", TOKEN_FAILED, `clientID ${carried}`],
              fix: `kubectl delete azureassignedidentity ${a.metadata.name} -n ${a.metadata.namespace ?? "default"}   # MIC assigns it again from the current AzureIdentity (see check mic if it does not)`,
              objects: [`Pod ${a.spec.podNamespace}/${a.spec.pod}`, `AzureAssignedIdentity ${aai}`, ref, azure.clientId],
            }),
          );
        }
      }),
    );
    return { observed, findings };
  },
};
