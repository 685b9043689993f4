import { identityNotFound } from "../../../aadpodidentity/contract/messages.js";
import { matchesOnlyOwnNamespace } from "../../../aadpodidentity/matching.js";
import { bindingSpec, identitySpec } from "../../../aadpodidentity/spec.js";
import { BINDING_LABEL, namespaceOf, type AzureIdentity } from "../../../aadpodidentity/types.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { bindingRef, identityOf, podRef, podsWithSelector, reaches } from "./matching.js";
import type { DoctorContext } from "../context.js";
import { identityAddFix, safeParse } from "./azure-identities.js";
import { traceInAzure } from "../../recovery.js";
import { identityAddCommand } from "../../repair-commands.js";
import { clusterIfKnown } from "./fixes.js";
import { shellWord } from "../../../util/shell.js";

/** Where a never-made identity most likely belongs: beside the namespace's other identities, else the cluster's group. */
async function likelyGroup(ctx: DoctorContext, identities: readonly AzureIdentity[], namespace: string): Promise<string | undefined> {
  const beside = identities.filter((i) => i.metadata.namespace === namespace).map((i) => safeParse(identitySpec(i).resourceID)?.resourceGroup).find(Boolean);
  return beside ?? (await clusterIfKnown(ctx))?.resourceGroup;
}

/**
 * The fix for a binding whose AzureIdentity is missing. If podid made it and it was deleted, its record went with
 * it, but Azure still shows what podid made for it (the identity, its roles): the fix re-creates the AzureIdentity
 * from that, so no second identity is made. When the identity is gone too, a new one with the roles podid had granted
 * the old one (the assignments it made for it outlive it). Otherwise a new identity, in the likeliest group.
 */
async function missingIdentityFix(ctx: DoctorContext, identities: readonly AzureIdentity[], namespace: string, name: string): Promise<{ fix: string; recovered?: string; orphaned?: number }> {
  const trace = await ctx.cached(`trace|${namespace}/${name}`, () => traceInAzure(ctx.azure, namespace, name)).catch(() => undefined);
  if (trace?.identity) {
    const cluster = await clusterIfKnown(ctx);
    const fix = identityAddCommand({ name, namespace, resourceId: trace.identity.id, roles: trace.roles, cluster: cluster ? { name: cluster.name, resourceGroup: cluster.resourceGroup } : undefined });
    return { fix, recovered: trace.identity.id };
  }
  if (trace?.roles.length) {
    // The identity is gone too: its roles are read off the assignments podid made for it, which outlived it.
    const cluster = await clusterIfKnown(ctx);
    const group = (trace.formerResourceId && safeParse(trace.formerResourceId)?.resourceGroup) || (await likelyGroup(ctx, identities, namespace));
    return { fix: identityAddCommand({ name, namespace, group, roles: trace.roles, cluster: cluster ? { name: cluster.name, resourceGroup: cluster.resourceGroup } : undefined }), orphaned: trace.orphaned.length };
  }
  return { fix: await identityAddFix(ctx, { metadata: { name, namespace } }, undefined, await likelyGroup(ctx, identities, namespace)) };
}

/**
 * 8. Each binding names an AzureIdentity that exists in its own namespace (MIC's rule), and its selector matches
 * at least one pod MIC would give the identity to (MIC's own matching, aadpodidentity/desired.ts).
 */
export const bindingsCheck: Check = {
  id: "bindings",
  number: 8,
  title: "each binding names an existing AzureIdentity and its selector matches a pod",
  async run(ctx) {
    const [bindings, identities, pods, state, forceNamespaced] = await Promise.all([ctx.bindings(), ctx.allIdentities(), ctx.allPods(), ctx.desired(), ctx.micForceNamespaced()]);
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = { forceNamespaced };
    for (const binding of bindings) {
      const ns = namespaceOf(binding);
      const ref = bindingRef(binding);
      const { azureIdentity, selector } = bindingSpec(binding);
      const identity = identityOf(binding, identities);
      const assigned = state.assigned.filter((a) => a.spec.azureBindingRef.metadata.name === binding.metadata.name && a.spec.azureBindingRef.metadata.namespace === ns);
      observed[`${ns}/${binding.metadata.name}`] = { azureIdentity, selector, identityFound: Boolean(identity), pods: assigned.map((a) => `${a.spec.podNamespace}/${a.spec.pod}`) };
      if (!identity) {
        const elsewhere = identities.filter((i) => i.metadata.name === azureIdentity).map((i) => i.metadata.namespace);
        const { fix, recovered, orphaned } = azureIdentity ? await missingIdentityFix(ctx, identities, ns, azureIdentity) : { fix: await identityAddFix(ctx, { metadata: { name: "<identity>", namespace: ns } }, undefined), recovered: undefined, orphaned: undefined };
        findings.push(
          finding(
            "fail",
            `${ref} names AzureIdentity '${azureIdentity}', which does not exist in namespace ${ns}${elsewhere.length ? ` (it exists in ${elsewhere.join(", ")}; a binding only reaches identities in its own namespace)` : ""}: pods labelled ${BINDING_LABEL}=${selector} get no identity${recovered ? `. podid made ${recovered} for it (its role assignments say so): the fix re-creates the AzureIdentity from it` : ""}${orphaned ? `. Its Azure identity is gone too; ${orphaned} role assignment(s) podid made for it are left: the fix makes a new identity with the same roles (podid identity delete -n ${azureIdentity} --namespace ${ns} removes the old ones)` : ""}`,
            {
              errors: [identityNotFound(`${ns}/${azureIdentity}`), "AzureIdentityNotFound"],
              fix,
              objects: [ref, `AzureIdentity ${ns}/${azureIdentity}`, ...(recovered ? [recovered] : [])],
            },
          ),
        );
        continue;
      }
      if (!selector) {
        findings.push(finding("fail", `${ref} has no selector: it matches no pod`, { fix: `podid bind --selector <selector> --identity ${azureIdentity} --namespace ${ns} --name ${binding.metadata.name}`, objects: [ref] }));
        continue;
      }
      if (assigned.length) continue;
      const labelled = podsWithSelector(pods, selector).filter((p) => reaches(binding, identity, p.metadata?.namespace ?? "default", forceNamespaced));
      const fix = `podid bind --selector ${shellWord(selector)} --identity ${azureIdentity} --namespace ${ns} --name ${binding.metadata.name} --label deployment/<name>`;
      if (labelled.length) {
        const reasons = state.skipped.filter((s) => s.kind === "Pod" && labelled.some((p) => p.metadata?.name === s.name && p.metadata?.namespace === s.namespace)).map((s) => `${s.namespace}/${s.name} ${s.reason}`);
        findings.push(
          finding("warn", `${ref}'s selector '${selector}' matches ${labelled.map((p) => podRef(p)).join(", ")}, but MIC would assign the identity to none of them${reasons.length ? `: ${reasons.join("; ")}` : ""}`, {
            errors: reasons,
            objects: [ref, ...labelled.map(podRef)],
          }),
        );
      } else {
        findings.push(
          finding("warn", `${ref}'s selector '${selector}' matches no pod MIC may give AzureIdentity ${ns}/${azureIdentity}: no pod${matchesOnlyOwnNamespace(identity, forceNamespaced) ? ` in ${ns}` : ""} is labelled ${BINDING_LABEL}=${selector}`, {
            errors: [`no AzureAssignedIdentity for selector ${selector}`],
            fix,
            objects: [ref],
          }),
        );
      }
    }
    return { observed, findings };
  },
};
