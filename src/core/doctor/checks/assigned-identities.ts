import { NOT_ASSIGNED_SEARCH } from "../../../aadpodidentity/contract/messages.js";
import { ScaleSetTrouble } from "../../../aadpodidentity/contract/mic-reports.js";
import { identitySpec } from "../../../aadpodidentity/spec.js";
import type { AzureAssignedIdentity } from "../../../aadpodidentity/types.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { safeParse } from "./azure-identities.js";
import { installFix } from "./fixes.js";
import { troubleOf } from "./mic-events.js";
import { armCodes, eventsAbout, isReady, type KubeEvent } from "./runtime-pods.js";

const aaiRef = (a: AzureAssignedIdentity) => `AzureAssignedIdentity ${a.metadata.namespace ?? "default"}/${a.metadata.name}`;
const seconds = (ms: number) => (ms >= 120_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 1000)}s`);

/** The fix for the trouble MIC reported: the roles podid install grants, else MIC's Events on the object. */
async function fixFor(ctx: DoctorContext, event: KubeEvent | undefined, aai: AzureAssignedIdentity): Promise<string> {
  const trouble = event ? troubleOf(event) : undefined;
  if (trouble === ScaleSetTrouble.LinkedAuthorization) {
    const ref = aai.spec.azureIdentityRef;
    const group = ref?.spec ? safeParse(identitySpec(ref).resourceID)?.resourceGroup : undefined;
    return `${await installFix(ctx, ...(group ? ["--identity-resource-group", group] : []))}   # grants the kubelet identity Managed Identity Operator on the identity (see check kubelet-roles)`;
  }
  if (trouble === ScaleSetTrouble.Authorization) return `${await installFix(ctx)}   # grants the kubelet identity Virtual Machine Contributor on the node resource group (see check kubelet-roles)`;
  return `kubectl describe azureassignedidentity ${aai.metadata.name} -n ${aai.metadata.namespace ?? "default"}   # MIC's own account of it, in its Events`;
}

/**
 * 11. AzureAssignedIdentities that stay Created (not Assigned) longer than --stuck-after: MIC could not attach the
 * identity to the node. MIC's reason comes from its Warning Events on the object (their reason names the trouble).
 */
export const assignedIdentitiesCheck: Check = {
  id: "assigned-identities",
  number: 11,
  title: "AzureAssignedIdentities stuck in Created (not Assigned), with MIC's reason",
  async run(ctx) {
    const scope = ctx.scope;
    const all = await ctx.assignedIdentities();
    const mine = all.filter(
      (a) =>
        (scope.namespace === undefined || a.spec.podNamespace === scope.namespace) &&
        (!scope.identity || a.spec.azureIdentityRef?.metadata?.name === scope.identity) &&
        (!scope.pod || a.spec.pod === scope.pod),
    );
    const threshold = ctx.stuckAfterMs;
    const now = Date.now();
    const observed: Record<string, unknown> = { stuckAfter: seconds(threshold), assignedIdentities: Object.fromEntries(mine.map((a) => [`${a.metadata.namespace}/${a.metadata.name}`, a.status?.status ?? "(none)"])) };
    const findings: Finding[] = [];
    const stuck = mine.filter((a) => a.status?.status !== "Assigned" && now - new Date((a.metadata.creationTimestamp as string | undefined) ?? now).getTime() > threshold);
    if (!stuck.length) return { observed, findings };
    const micRunning = (await ctx.runtimePods().catch(() => ({ mic: [] }))).mic.some(isReady);
    for (const a of stuck) {
      const age = now - new Date(a.metadata.creationTimestamp as string).getTime();
      const events = (await eventsAbout(ctx, "AzureAssignedIdentity", a.metadata.namespace ?? "default", a.metadata.name, a.metadata.uid)).filter((e) => e.type === "Warning");
      const reason = events[0]?.message ?? "";
      const why = reason ? `MIC says: ${events[0].reason}: ${reason}` : micRunning ? "MIC recorded no reason (see its log)" : "no MIC pod is ready to assign it (see check mic)";
      const identity = a.spec.azureIdentityRef?.metadata ? `${a.spec.azureIdentityRef.metadata.namespace}/${a.spec.azureIdentityRef.metadata.name}` : "?";
      findings.push(
        finding("fail", `${aaiRef(a)} (pod ${a.spec.podNamespace}/${a.spec.pod}, identity ${identity}, node ${a.spec.nodename}) has been ${a.status?.status ?? "without status"} for ${seconds(age)}, longer than ${seconds(threshold)}: the identity is not on the node, so the pod's token requests fail ('${NOT_ASSIGNED_SEARCH[0]}'); ${why}`, {
          errors: [...new Set([...armCodes(reason), ...(events[0]?.reason ? [events[0].reason] : []), ...(reason ? [reason] : []), ...NOT_ASSIGNED_SEARCH])],
          fix: reason || micRunning ? await fixFor(ctx, events[0], a) : `${await installFix(ctx)}   # brings MIC back (see check mic)`,
          objects: [aaiRef(a), `Pod ${a.spec.podNamespace}/${a.spec.pod}`, `AzureIdentity ${identity}`],
        }),
      );
    }
    return { observed, findings };
  },
};
