import type { V1Lease } from "@kubernetes/client-node";
import type { ComputeTarget } from "../../../azure/provider-id.js";
import { IdentityType } from "../../../aadpodidentity/types.js";
import { identitySpec } from "../../../aadpodidentity/spec.js";
import { NOT_ASSIGNED_SEARCH, TOKEN_FAILED } from "../../../aadpodidentity/contract/messages.js";
import { PREEXISTING_ANNOTATION, preexistingEntries } from "../../../aadpodidentity/contract/preexisting.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { clusterIfKnown } from "./fixes.js";
import { leaseOf } from "./runtime-pods.js";

const targetRef = (t: ComputeTarget) => `${t.kind === "scaleSet" ? "scale set" : "VM"} ${t.name}`;
const az = (t: ComputeTarget, verb: "assign" | "remove", ids: string[]) => `az ${t.kind === "scaleSet" ? "vmss" : "vm"} identity ${verb} -g ${t.resourceGroup} -n ${t.name} --identities ${ids.join(" ")}`;

/** Identities MIC recorded as there before it (never detached), per lower-cased target id, from its leader Lease. */
async function preexisting(ctx: DoctorContext): Promise<Record<string, string[]>> {
  const { mic } = await ctx.runtimeWorkloads().catch(() => ({ mic: [] }));
  const out: Record<string, string[]> = {};
  for (const d of mic) {
    const lease = await ctx.read<V1Lease>({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: leaseOf(d) }).catch(() => undefined);
    try {
      const record = preexistingEntries(JSON.parse(lease?.metadata?.annotations?.[PREEXISTING_ANNOTATION] ?? "{}") as Record<string, unknown>);
      for (const [k, v] of Object.entries(record)) out[k.toLowerCase()] = v.map((x) => x.toLowerCase());
    } catch {
      // an unreadable record: nothing counts as pre-existing
    }
  }
  return out;
}

/**
 * 12. Each user-assigned identity MIC reports Assigned is attached to the scale set (or VM) of its pod's node,
 * as ARM says now; and identities attached there that no AzureAssignedIdentity needs (stale: a pod gone, a
 * namespace deleted) — except those there before MIC (its record on the leader Lease) and the kubelet identity.
 */
export const scaleSetIdentitiesCheck: Check = {
  id: "scale-set-identities",
  number: 12,
  title: "identities attached to the scale sets of their pods' nodes, and none left attached that no pod needs",
  async run(ctx) {
    const [state, assigned] = await Promise.all([ctx.desired(), ctx.assignedIdentities()]);
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = {};
    // What each target needs: every current AzureAssignedIdentity of a user-assigned identity on a node there.
    const needs = new Map<string, { target: ComputeTarget; ids: Map<string, { resourceId: string; assigned: string[]; claimed: string[] }> }>();
    for (const a of assigned) {
      const target = state.nodeTargets.get(a.spec.nodename);
      const ref = a.spec.azureIdentityRef;
      if (!target || !ref?.spec) continue;
      const { type, resourceID } = identitySpec(ref);
      if (type !== IdentityType.userAssignedMSI || !resourceID) continue;
      let need = needs.get(target.id);
      if (!need) needs.set(target.id, (need = { target, ids: new Map() }));
      const entry = need.ids.get(resourceID.toLowerCase()) ?? { resourceId: resourceID, assigned: [], claimed: [] };
      entry.assigned.push(`${a.metadata.namespace}/${a.metadata.name}`);
      if (a.status?.status === "Assigned") entry.claimed.push(`${a.metadata.namespace}/${a.metadata.name}`);
      need.ids.set(resourceID.toLowerCase(), entry);
    }
    const targets = new Map<string, ComputeTarget>();
    for (const t of state.nodeTargets.values()) targets.set(t.id, t);
    const [before, cluster] = await Promise.all([preexisting(ctx), clusterIfKnown(ctx)]);
    const kubelet = cluster?.kubelet.resourceId.toLowerCase();
    for (const target of targets.values()) {
      const held = await ctx.computeIdentities(target);
      const need = needs.get(target.id);
      const attached = [...held.identities.keys()];
      observed[target.id] = { attached, needed: [...(need?.ids.keys() ?? [])], preexisting: before[target.id] ?? [] };
      const missing = [...(need?.ids.values() ?? [])].filter((n) => n.claimed.length && !held.identities.has(n.resourceId.toLowerCase()));
      if (missing.length) {
        findings.push(
          finding("fail", `${targetRef(target)} does not hold ${missing.map((m) => m.resourceId).join(", ")}, although MIC reports ${missing.flatMap((m) => m.claimed).map((a) => `AzureAssignedIdentity ${a}`).join(", ")} Assigned: the identity was detached outside MIC, and pods on its nodes get 'Identity not found' from IMDS until MIC re-attaches it (within its --identity-assignment-reconcile-interval, default 3m)`, {
            errors: ["Identity not found", TOKEN_FAILED, NOT_ASSIGNED_SEARCH[0]],
            fix: `${az(target, "assign", missing.map((m) => m.resourceId))}   # MIC also re-attaches it at its next reconcile while it runs`,
            objects: [target.id, ...missing.map((m) => m.resourceId), ...missing.flatMap((m) => m.claimed).map((a) => `AzureAssignedIdentity ${a}`)],
          }),
        );
      }
      // Without MIC's record for this target (MIC has not worked on it yet) what was there before MIC is unknown.
      const recorded = before[target.id];
      const keep = new Set([...(recorded ?? []), ...(kubelet ? [kubelet] : [])]);
      const stale = recorded ? attached.filter((id) => !need?.ids.has(id) && !keep.has(id)) : [];
      if (stale.length) {
        const ids = stale.map((id) => held.identities.get(id)!.resourceId);
        findings.push(
          finding("warn", `${targetRef(target)} holds ${ids.join(", ")}, which no AzureAssignedIdentity needs and which was not there before MIC: a leftover (pod or namespace deleted while MIC was down?); any pod on its nodes that reaches IMDS directly can use it`, {
            errors: [],
            fix: `${az(target, "remove", ids)}   # unless something else on these nodes uses it`,
            objects: [target.id, ...ids],
          }),
        );
      }
    }
    return { observed, findings };
  },
};
