import type { V1Deployment, V1Pod, V1ReplicaSet } from "@kubernetes/client-node";
import { NOT_ASSIGNED_SEARCH } from "../../../aadpodidentity/contract/messages.js";
import { AKS_ADDON_EXCEPTION_NAME, AKS_ADDON_LABEL, AKS_ADDON_LABEL_VALUE, COMPONENT_LABEL, INSTALL_NAMESPACE, MIC_EXCEPTION_NAME, NmiFlag } from "../../../aadpodidentity/contract/names.js";
import { isExceptionPod, isMicPod, upstreamMicShortcut } from "../../../aadpodidentity/exceptions.js";
import { isActivePod } from "../../../aadpodidentity/pods.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { installFix } from "./fixes.js";
import { isUpstreamRuntime, namespaceFlagOf, podName } from "./runtime-pods.js";

/**
 * 20. Pods that must keep the node's own identity and have no AzurePodIdentityException: MIC itself (it asks IMDS
 * for the kubelet identity's token to write the scale sets) unless NMI knows MIC's pods by itself (podid's NMI: the
 * owner chain to the MIC Deployment in its --MICNamespace), and the AKS add-ons in kube-system. NMI intercepts their IMDS
 * requests too, and without an exception answers them as pods without an identity.
 */
export const systemExceptionsCheck: Check = {
  id: "system-exceptions",
  number: 20,
  title: "system pods that use the node's identity (MIC, AKS add-ons) have an AzurePodIdentityException",
  async run(ctx) {
    const [{ nmi }, { mic: micPods }, pods, exceptions] = await Promise.all([ctx.runtimeWorkloads(), ctx.runtimePods(), ctx.allPods(), ctx.exceptions()]);
    const observed: Record<string, unknown> = { exceptions: exceptions.map((e) => `${e.metadata.namespace}/${e.metadata.name}`) };
    // Without NMI nothing intercepts IMDS: no exception is needed (check nmi says NMI is missing).
    if (!nmi.length) return { observed: { ...observed, nmi: "not installed" }, findings: [] };
    // podid's NMI exempts MIC's pods by their owner chain to MIC's Deployment in its --MICNamespace;
    // upstream's, pods of a ReplicaSet named mic* there.
    const micNamespace = namespaceFlagOf(nmi[0], NmiFlag.micNamespace);
    const upstream = isUpstreamRuntime(nmi[0]);
    const replicaSets = upstream ? [] : await ctx.list<V1ReplicaSet>("apps/v1", "ReplicaSet", micNamespace);
    const deployments = upstream ? [] : await ctx.list<V1Deployment>("apps/v1", "Deployment", micNamespace);
    const exemptAsMic = (p: V1Pod) => (upstream ? upstreamMicShortcut(p, micNamespace) : isMicPod(p, replicaSets, deployments, micNamespace));
    const intercepted = (p: V1Pod) => isActivePod(p) && !p.spec?.hostNetwork;
    const uncovered = (p: V1Pod) => !isExceptionPod(p, exceptions) && !exemptAsMic(p);
    const mic = micPods.filter(intercepted).filter(uncovered);
    const addons = pods.filter((p) => p.metadata?.namespace === "kube-system" && p.metadata?.labels?.[AKS_ADDON_LABEL] === AKS_ADDON_LABEL_VALUE).filter(intercepted).filter(uncovered);
    observed.micPods = micPods.map(podName);
    const findings: Finding[] = [];
    if (mic.length) {
      const ns = mic[0].metadata?.namespace ?? INSTALL_NAMESPACE;
      findings.push(
        finding("fail", `MIC's pods ${mic.map(podName).join(", ")} have no AzurePodIdentityException in ${ns}: NMI answers MIC's own IMDS requests as for a pod without an identity, so MIC cannot get the kubelet identity's token and no identity is attached`, {
          errors: ["No AzureAssignedIdentity found for pod", ...NOT_ASSIGNED_SEARCH],
          fix: `${await installFix(ctx)}   # re-creates the exception ${MIC_EXCEPTION_NAME}; or: podid exception add --name ${MIC_EXCEPTION_NAME} --namespace ${ns} --pod-labels ${COMPONENT_LABEL}=mic`,
          objects: mic.map((p) => `Pod ${podName(p)}`),
        }),
      );
    }
    if (addons.length) {
      findings.push(
        finding("fail", `AKS add-on pods ${addons.map(podName).join(", ")} use the node's identity and have no AzurePodIdentityException in kube-system: NMI answers their IMDS requests as for pods without an identity`, {
          errors: ["No AzureAssignedIdentity found for pod", ...NOT_ASSIGNED_SEARCH.slice(0, 1)],
          fix: `${await installFix(ctx)}   # re-creates ${AKS_ADDON_EXCEPTION_NAME}; or: podid exception add --name ${AKS_ADDON_EXCEPTION_NAME} --namespace kube-system --pod-labels ${AKS_ADDON_LABEL}=${AKS_ADDON_LABEL_VALUE}`,
          objects: addons.map((p) => `Pod ${podName(p)}`),
        }),
      );
    }
    return { observed, findings };
  },
};
