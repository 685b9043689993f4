import { CLIENT_ID_ANNOTATION, injectionProblem, USE_LABEL } from "../../../kube/workload-identity.js";
import { podTemplateOf, workloadRef } from "../../../kube/workloads.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { clusterProfile, kubectlTarget, scopeWorkloads, serviceAccounts, wiPodRef, workloadIdentityPods, workloadOf } from "./workload-identity.js";

/**
 * 22. Pods labelled for workload identity carry what the webhook injects (AZURE_FEDERATED_TOKEN_FILE, the token
 * volume, AZURE_CLIENT_ID); and the label is where the webhook looks, on the pod template, not on the workload.
 */
export const wiInjectionCheck: Check = {
  id: "wi-injection",
  number: 22,
  title: "workload identity: labelled pods got the webhook's injection (label on the pod template, ServiceAccount annotated)",
  async run(ctx) {
    const [pods, workloads, accounts] = await Promise.all([workloadIdentityPods(ctx), scopeWorkloads(ctx), serviceAccounts(ctx)]);
    const findings: Finding[] = [];
    for (const w of workloads) {
      if (w.metadata.labels?.[USE_LABEL] !== "true" || podTemplateOf(w)?.metadata?.labels?.[USE_LABEL] === "true") continue;
      const ref = workloadRef({ kind: w.kind, name: w.metadata.name });
      const template = { template: { metadata: { labels: { [USE_LABEL]: "true" } } } };
      const path = JSON.stringify({ spec: w.kind === "CronJob" ? { jobTemplate: { spec: template } } : template });
      findings.push(
        finding("fail", `${w.kind} ${w.metadata.namespace}/${w.metadata.name} is labelled ${USE_LABEL}=true itself, not its pod template: the webhook looks at pods, so its pods get nothing injected`, {
          errors: ["AZURE_FEDERATED_TOKEN_FILE", "WorkloadIdentityCredential: is not configured"],
          fix: `kubectl patch ${kubectlTarget(ref)} -n ${w.metadata.namespace} --type merge -p '${path}'`,
          objects: [`${ref} in ${w.metadata.namespace}`],
        }),
      );
    }
    let enabled: boolean | undefined;
    for (const pod of pods) {
      const problem = injectionProblem(pod);
      if (!problem) continue;
      const ns = pod.metadata?.namespace ?? "default";
      const target = await workloadOf(ctx, pod);
      const restart = target.startsWith("pod/") ? `kubectl delete pod ${pod.metadata?.name} -n ${ns}   # and create it again` : `kubectl rollout restart ${kubectlTarget(target)} -n ${ns}`;
      const sa = pod.spec?.serviceAccountName ?? "default";
      const annotated = accounts.find((a) => a.metadata?.namespace === ns && a.metadata?.name === sa)?.metadata?.annotations?.[CLIENT_ID_ANNOTATION];
      if (/AZURE_CLIENT_ID is not set/.test(problem)) {
        findings.push(
          finding("fail", annotated ? `${wiPodRef(pod)} has no AZURE_CLIENT_ID: it was created before its ServiceAccount ${ns}/${sa} was annotated` : `${wiPodRef(pod)} has no AZURE_CLIENT_ID: its ServiceAccount ${ns}/${sa} has no ${CLIENT_ID_ANNOTATION} annotation`, {
            errors: ["AZURE_CLIENT_ID", "WorkloadIdentityCredential: is not configured", "ManagedIdentityCredential authentication unavailable"],
            fix: annotated ? restart : `kubectl annotate serviceaccount ${sa} -n ${ns} ${CLIENT_ID_ANNOTATION}=<identity client id> && ${restart}`,
            objects: [wiPodRef(pod), `ServiceAccount ${ns}/${sa}`],
          }),
        );
        continue;
      }
      enabled ??= await clusterProfile(ctx).then((p) => p.workloadIdentityEnabled, () => undefined);
      findings.push(
        finding("fail", `${wiPodRef(pod)} is labelled ${USE_LABEL}=true but ${problem}${enabled === false ? ": workload identity is not enabled on the cluster (see check wi-cluster)" : ": it was created before the webhook ran (or the webhook was down)"}`, {
          errors: ["AZURE_FEDERATED_TOKEN_FILE", "WorkloadIdentityCredential: is not configured", "no such file or directory"],
          fix: restart,
          objects: [wiPodRef(pod)],
        }),
      );
    }
    return { observed: { labelledPods: pods.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`) }, findings };
  },
};
