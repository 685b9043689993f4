import type { V1Pod } from "@kubernetes/client-node";
import { CLIENT_ID_ANNOTATION, ENV, envOf, injectionProblem, SKIP_CONTAINERS_ANNOTATION } from "../../../kube/workload-identity.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { eventTime, type KubeEvent } from "./runtime-pods.js";
import { kubectlTarget, serviceAccounts, wiPodRef, workloadIdentityPods, workloadOf } from "./workload-identity.js";

/** The containers whose token file (AZURE_FEDERATED_TOKEN_FILE) no projected service-account token volume provides. */
export function unreadable(pod: V1Pod): { container: string; file: string }[] {
  const projected = new Map<string, string[]>();
  for (const v of pod.spec?.volumes ?? []) {
    const paths = (v.projected?.sources ?? []).map((s) => s.serviceAccountToken?.path).filter((p): p is string => Boolean(p));
    if (paths.length) projected.set(v.name, paths);
  }
  const out: { container: string; file: string }[] = [];
  for (const c of pod.spec?.containers ?? []) {
    const file = envOf(c, ENV.tokenFile);
    if (!file) continue;
    const mounted = (c.volumeMounts ?? []).some((m) => projected.get(m.name)?.some((p) => `${m.mountPath.replace(/\/+$/, "")}/${p}` === file));
    if (!mounted) out.push({ container: c.name, file });
  }
  return out;
}

/**
 * 25. The projected service-account token of each pod on workload identity can be read where
 * AZURE_FEDERATED_TOKEN_FILE points (a container the webhook skipped, or one that sets the variable itself, has no
 * mount), and the kubelet can keep refreshing it (its ServiceAccount exists; else the token expires within its
 * lifetime, and Entra ID then answers AADSTS700024). The kubelet's FailedMount Events say when it could not.
 */
export const wiTokenCheck: Check = {
  id: "wi-token",
  number: 25,
  title: "workload identity: each pod's projected token is readable and refreshed",
  async run(ctx) {
    const [pods, accounts] = await Promise.all([workloadIdentityPods(ctx), serviceAccounts(ctx)]);
    const injected = pods.filter((p) => !injectionProblem(p));
    const events = injected.length ? ((await ctx.events(ctx.scope.namespace).catch(() => [])) as KubeEvent[]) : [];
    const findings: Finding[] = [];
    for (const pod of injected) {
      const ns = pod.metadata?.namespace ?? "default";
      const target = await workloadOf(ctx, pod);
      for (const u of unreadable(pod)) {
        findings.push(
          finding("fail", `${wiPodRef(pod)}: container ${u.container} reads its token from ${u.file}, but no projected token volume is mounted there (the webhook skipped the container, or it sets ${ENV.tokenFile} itself)`, {
            errors: ["no such file or directory", "azure-identity-token", "WorkloadIdentityCredential"],
            fix: `kubectl annotate ${kubectlTarget(target)} -n ${ns} ${SKIP_CONTAINERS_ANNOTATION}-   # or take ${ENV.tokenFile} out of container ${u.container}'s env; then kubectl rollout restart ${kubectlTarget(target)} -n ${ns}`,
            objects: [wiPodRef(pod)],
          }),
        );
      }
      const sa = pod.spec?.serviceAccountName ?? "default";
      if (!accounts.some((a) => a.metadata?.namespace === ns && a.metadata?.name === sa)) {
        const expiration = (pod.spec?.volumes ?? []).flatMap((v) => v.projected?.sources ?? []).find((s) => s.serviceAccountToken)?.serviceAccountToken?.expirationSeconds ?? 3600;
        const said = events
          .filter((e) => e.type === "Warning" && e.reason === "FailedMount" && e.involvedObject?.name === pod.metadata?.name && e.involvedObject?.namespace === ns)
          .sort((a, b) => eventTime(b) - eventTime(a))[0]?.message;
        findings.push(
          finding("fail", `${wiPodRef(pod)} runs as ServiceAccount ${ns}/${sa}, which no longer exists: the kubelet cannot refresh its projected token, which expires within ${expiration}s of its last refresh (then Entra ID answers AADSTS700024)${said ? `; the kubelet says: ${said}` : ""}`, {
            errors: ["AADSTS700024", "failed to fetch token", `serviceaccounts "${sa}" not found`],
            fix: `kubectl create serviceaccount ${sa} -n ${ns} && kubectl annotate serviceaccount ${sa} -n ${ns} ${CLIENT_ID_ANNOTATION}=<identity client id>   # or: podid migrate apply --namespace ${ns}`,
            objects: [wiPodRef(pod), `ServiceAccount ${ns}/${sa}`],
          }),
        );
      }
    }
    return { observed: { pods: injected.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`) }, findings };
  },
};
