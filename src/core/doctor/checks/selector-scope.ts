import { IDENTITY_IN_TWO_NAMESPACES_SEARCH } from "../../../aadpodidentity/contract/messages.js";
import { isNamespacedIdentity } from "../../../aadpodidentity/matching.js";
import { bindingSpec } from "../../../aadpodidentity/spec.js";
import { BEHAVIOR_ANNOTATION, BEHAVIOR_NAMESPACED, BINDING_LABEL, namespaceOf } from "../../../aadpodidentity/types.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { bindingRef, identityOf, namespacedCaveat, podRef, podsWithSelector } from "./matching.js";

/** A Behavior annotation that means nothing (MIC and NMI take only exactly "namespaced"), said where it is. */
function misspelt(identity: { metadata: { annotations?: Record<string, string> } }): string {
  const value = identity.metadata.annotations?.[BEHAVIOR_ANNOTATION];
  return value === undefined ? "" : ` (its ${BEHAVIOR_ANNOTATION} annotation is ${JSON.stringify(value)}, which is not namespaced mode: only exactly "${BEHAVIOR_NAMESPACED}" is)`;
}

/**
 * 10. The upstream security note: outside namespaced mode a selector is matched in every namespace, so a selector
 * bound in several namespaces, or carried by pods of another namespace, hands an identity to pods it was not
 * meant for. Namespaced mode (per identity, or MIC's --forceNamespaced) closes it.
 */
export const selectorScopeCheck: Check = {
  id: "selector-scope",
  number: 10,
  title: "no identity is reachable from a namespace it is not meant for",
  async run(ctx) {
    const [bindings, allBindings, identities, pods, mode] = await Promise.all([ctx.bindings(), ctx.allBindings(), ctx.allIdentities(), ctx.allPods(), ctx.micNamespacedMode()]);
    const observed: Record<string, unknown> = { forceNamespaced: mode.on, ...(mode.unresolved ? { forceNamespacedUnresolved: mode.unresolved } : {}) };
    const findings: Finding[] = [];
    if (mode.on) return { observed, findings };
    const exposed: Record<string, string[]> = {};
    for (const binding of bindings) {
      const identity = identityOf(binding, identities);
      const { selector } = bindingSpec(binding);
      if (!identity || !selector || isNamespacedIdentity(identity)) continue;
      const ns = namespaceOf(binding);
      const otherBindings = allBindings.filter((b) => bindingSpec(b).selector === selector && namespaceOf(b) !== ns);
      const otherPods = podsWithSelector(pods, selector).filter((p) => (p.metadata?.namespace ?? "default") !== ns);
      if (!otherBindings.length && !otherPods.length) continue;
      const idRef = `AzureIdentity ${ns}/${identity.metadata.name}`;
      exposed[`${ns}/${identity.metadata.name}`] = [...otherBindings.map((b) => b.metadata.namespace ?? ""), ...otherPods.map((p) => p.metadata?.namespace ?? "")];
      const parts = [
        ...(otherBindings.length ? [`selector '${selector}' is also bound in namespace(s) ${[...new Set(otherBindings.map((b) => b.metadata.namespace))].join(", ")}`] : []),
        ...(otherPods.length ? [`pods outside ${ns} carry ${BINDING_LABEL}=${selector} (${otherPods.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(", ")})`] : []),
      ];
      findings.push(
        finding("warn", `${idRef} (through ${bindingRef(binding)}) can be taken by pods of other namespaces: ${parts.join("; ")}. Outside namespaced mode MIC matches a selector in every namespace${misspelt(identity)}${namespacedCaveat(mode)}`, {
          errors: [...IDENTITY_IN_TWO_NAMESPACES_SEARCH],
          fix: `kubectl annotate azureidentity ${identity.metadata.name} -n ${ns} ${BEHAVIOR_ANNOTATION}=${BEHAVIOR_NAMESPACED} --overwrite   # or run MIC with --forceNamespaced`,
          objects: [idRef, bindingRef(binding), ...otherBindings.map(bindingRef), ...otherPods.map(podRef)],
        }),
      );
    }
    observed.exposed = exposed;
    return { observed, findings };
  },
};
