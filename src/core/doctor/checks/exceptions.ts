import type { V1Pod } from "@kubernetes/client-node";
import { exceptionPodLine } from "../../../aadpodidentity/contract/messages.js";
import { INSTALL_NAMESPACE } from "../../../aadpodidentity/contract/names.js";
import { isExceptionPod } from "../../../aadpodidentity/exceptions.js";
import { exceptionPodLabels } from "../../../aadpodidentity/spec.js";
import { BINDING_LABEL, namespaceOf, type AzurePodIdentityException } from "../../../aadpodidentity/types.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { podRef } from "./matching.js";
import { shellWord } from "../../../util/shell.js";

const exceptionRef = (e: AzurePodIdentityException) => `AzurePodIdentityException ${e.metadata.namespace}/${e.metadata.name}`;
const labelsText = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");

/** MIC's and NMI's pods, or none when their workloads cannot be read (the other findings still stand). */
async function runtimePods(ctx: DoctorContext): Promise<{ mic: V1Pod[]; nmi: V1Pod[] }> {
  try {
    return await ctx.runtimePods();
  } catch {
    return { mic: [], nmi: [] };
  }
}

/**
 * 13. AzurePodIdentityExceptions (NMI's own matching: any one podLabel, value case-insensitive, pods of the
 * exception's namespace): one that exempts pods carrying aadpodidbinding (they bypass NMI: no identity of their
 * own, and any identity on the node that no AzureIdentity names, the kubelet identity included, is theirs to take —
 * any identity at all where NMI runs with --allow-exception-pod-identities), one with no podLabels
 * (exempts nothing), and one meant for MIC or NMI that sits in another namespace than theirs (applies to nothing).
 */
export const exceptionsCheck: Check = {
  id: "exceptions",
  number: 13,
  title: "exceptions exempt only the pods meant to keep the node's identity",
  async run(ctx) {
    const [all, pods, runtime] = await Promise.all([ctx.exceptions(), ctx.allPods(), runtimePods(ctx)]);
    const exceptions = ctx.scope.namespace === undefined ? all : all.filter((e) => e.metadata.namespace === ctx.scope.namespace);
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = {};
    for (const e of exceptions) {
      const ns = namespaceOf(e);
      const labels = exceptionPodLabels(e);
      const ref = exceptionRef(e);
      const remove = `podid exception delete --name ${e.metadata.name} --namespace ${ns}`;
      const matched = pods.filter((p) => p.metadata?.namespace === ns && isExceptionPod(p, [e]));
      observed[`${ns}/${e.metadata.name}`] = { podLabels: labels, exempts: matched.map((p) => p.metadata?.name) };
      if (Object.keys(labels).length === 0) {
        findings.push(
          finding("warn", `${ref} has no podLabels: NMI exempts no pod with it`, {
            fix: `${remove}   # or give it the labels of the pods meant to keep the node's identity: podid exception add --name ${e.metadata.name} --namespace ${ns} --pod-labels <key>=<value>`,
            objects: [ref],
          }),
        );
        continue;
      }
      const workloads = matched.filter((p) => p.metadata?.labels?.[BINDING_LABEL] !== undefined);
      if (workloads.length) {
        const keys = Object.keys(labels).filter((k) => workloads.some((p) => p.metadata?.labels?.[k] !== undefined && p.metadata.labels[k].toLowerCase() === labels[k].toLowerCase()));
        findings.push(
          finding(
            "fail",
            `${ref} (podLabels ${labelsText(labels)}) exempts pods that carry ${BINDING_LABEL}: ${workloads.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(", ")} ` +
              `(by ${keys.map((k) => `${k}=${labels[k]}`).join(", ")}). NMI passes an exempted pod's token requests straight to the node's IMDS: ` +
              `it gets no identity of its own (asking for its identity's client_id fails with "Identity not found" unless that identity happens to be on the node), ` +
              `and it can take any identity on the node that no AzureIdentity names, the kubelet identity included`,
            {
              errors: ["Identity not found", ...workloads.map((p) => exceptionPodLine({ namespace: ns, name: p.metadata?.name ?? "" }))],
              fix: `${remove}   # or: kubectl delete azurepodidentityexception ${e.metadata.name} -n ${ns}; to keep exempting system pods, re-add it with a label only they carry: podid exception add --name ${e.metadata.name} --namespace ${ns} --pod-labels <key>=<value>`,
              objects: [ref, ...workloads.map(podRef)],
            },
          ),
        );
      }
      // Meant for MIC or NMI (its labels are theirs) but in another namespace: exceptions apply only in their own.
      if (!matched.length) {
        for (const [component, runtimePodsOf] of [["MIC", runtime.mic], ["NMI", runtime.nmi]] as const) {
          const elsewhere = runtimePodsOf.filter((p) => p.metadata?.namespace !== ns && isExceptionPod({ ...p, metadata: { ...p.metadata, namespace: ns } }, [e]));
          if (!elsewhere.length) continue;
          const home = elsewhere[0].metadata?.namespace ?? INSTALL_NAMESPACE;
          findings.push(
            finding("warn", `${ref} (podLabels ${labelsText(labels)}) matches ${component}'s pods by its labels, but ${component} runs in namespace ${home} and an exception applies only to pods of its own namespace (${ns}): it exempts nothing`, {
              errors: component === "MIC" ? ["no AzureAssignedIdentity found for pod", "Refresh request failed"] : [],
              fix: `podid exception add --name ${e.metadata.name} --namespace ${home} --pod-labels ${shellWord(labelsText(labels))} && ${remove}`,
              objects: [ref, ...elsewhere.map(podRef)],
            }),
          );
        }
      }
    }
    return { observed, findings };
  },
};
