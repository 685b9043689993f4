import { noBindingForSelector, NOT_ASSIGNED_SEARCH } from "../../../aadpodidentity/contract/messages.js";
import { bindingSpec } from "../../../aadpodidentity/spec.js";
import { BINDING_LABEL, namespaceOf } from "../../../aadpodidentity/types.js";
import { podEnded } from "../../../kube/pods.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { closest, identityOf, namespacedCaveat, podRef, reaches, workloadOf } from "./matching.js";
import { readIdentityRecord } from "../../record.js";
import { shellWord } from "../../../util/shell.js";

/** 9. Running pods labelled aadpodidbinding=<value> that no binding MIC would match for them selects (usually a typo). */
export const podLabelsCheck: Check = {
  id: "pod-labels",
  number: 9,
  title: "every aadpodidbinding label on a pod matches a binding",
  async run(ctx) {
    const [pods, bindings, identities, mode] = await Promise.all([ctx.pods(), ctx.allBindings(), ctx.allIdentities(), ctx.micNamespacedMode()]);
    const findings: Finding[] = [];
    // A pod that has ended (a CronJob's past run) asks for no identity again: its label is history, not a user.
    const labelled = pods.filter((p) => p.metadata?.labels?.[BINDING_LABEL] !== undefined && !podEnded(p));
    const observed: Record<string, unknown> = {
      labelledPods: labelled.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}=${p.metadata?.labels?.[BINDING_LABEL]}`),
      forceNamespaced: mode.on,
      ...(mode.unresolved ? { forceNamespacedUnresolved: mode.unresolved } : {}),
    };
    for (const pod of labelled) {
      const ns = pod.metadata?.namespace ?? "default";
      const value = pod.metadata!.labels![BINDING_LABEL];
      const usable = bindings.filter((b) => reaches(b, identityOf(b, identities), ns, mode.on));
      const selectorOf = (b: (typeof bindings)[number]) => bindingSpec(b).selector;
      if (usable.some((b) => selectorOf(b) === value)) continue;
      const boundElsewhere = bindings.filter((b) => selectorOf(b) === value);
      const suggestion = closest(value, usable.map(selectorOf).filter(Boolean));
      const target = await workloadOf(ctx, pod);
      const sameNs = usable.find((b) => selectorOf(b) === suggestion && namespaceOf(b) === ns);
      // A binding podid made for this selector and someone deleted: the AzureIdentity's record names it.
      const recorded = identities
        .filter((i) => (i.metadata.namespace ?? "default") === ns)
        .flatMap((i) => (readIdentityRecord(i.metadata.annotations).record.bindings ?? []).filter((b) => b.selector === value).map((b) => ({ identity: i.metadata.name, binding: b.name })))
        .filter((r) => !bindings.some((b) => b.metadata.name === r.binding && namespaceOf(b) === ns));
      let fix: string;
      if (recorded.length === 1) fix = `podid bind --selector ${shellWord(value)} --identity ${recorded[0].identity} --namespace ${ns} --name ${recorded[0].binding}`;
      else if (suggestion && sameNs) fix = `podid bind --selector ${shellWord(suggestion)} --identity ${bindingSpec(sameNs).azureIdentity} --namespace ${ns} --name ${sameNs.metadata.name} --label ${target}`;
      else if (suggestion) fix = `kubectl label ${target.replace("/", " ")} -n ${ns} ${BINDING_LABEL}=${shellWord(suggestion)} --overwrite`;
      else fix = `podid bind --selector ${shellWord(value)} --identity <identity> --namespace ${ns}`;
      const why = recorded.length === 1
        ? `AzureIdentityBinding ${ns}/${recorded[0].binding}, which podid made for it (AzureIdentity ${ns}/${recorded[0].identity} records it), is gone`
        : boundElsewhere.length
        ? `the selector is bound only where its identity is namespaced (${boundElsewhere.map((b) => `${b.metadata.namespace}/${b.metadata.name}`).join(", ")})`
        : "no AzureIdentityBinding has that selector";
      findings.push(
        finding("fail", `${podRef(pod)} is labelled ${BINDING_LABEL}=${value}, but ${why}: it gets no identity${suggestion ? ` (did you mean '${suggestion}'?)` : ""}${namespacedCaveat(mode)}`, {
          errors: [noBindingForSelector(value), "No AzureAssignedIdentity found for pod", ...NOT_ASSIGNED_SEARCH],
          fix,
          objects: [podRef(pod), ...(target.startsWith("pod/") ? [] : [`${target} in ${ns}`])],
        }),
      );
    }
    return { observed, findings };
  },
};
