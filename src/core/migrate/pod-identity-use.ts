import type { V1Pod } from "@kubernetes/client-node";
import { AAD_POD_IDENTITY_API_VERSION, BINDING_LABEL, type AzureIdentity, type AzureIdentityBinding } from "../../aadpodidentity/types.js";
import { bindingSpec } from "../../aadpodidentity/spec.js";
import type { KubeSession } from "../../kube/session.js";
import { jobFinished, listWorkloads, podTemplateOf, servedKinds, workloadRef, type Workload, type WorkloadKind } from "../../kube/workloads.js";
import { identityOf, reaches } from "../doctor/checks/matching.js";

/**
 * What still uses pod identity, cluster-wide (a selector matches pods of every namespace outside namespaced mode):
 * read fresh, for finish (which binding and AzureIdentity nothing needs any more) and for "uninstall now".
 */
export interface PodIdentityUse {
  identities: AzureIdentity[];
  bindings: AzureIdentityBinding[];
  /** Pods that may still ask for a token, and workload templates, carrying aadpodidbinding: `namespace/ref` by selector. */
  users: Map<string, { namespace: string; ref: string }[]>;
}

const KINDS: WorkloadKind[] = ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"];

/**
 * Who carries each selector: pods that have not ended, and the templates of workloads that make pods. A pod that
 * ended and a Job that has ended (a CronJob's past runs, a standalone Job done) never ask for a token again.
 */
export function podIdentityUsers(pods: readonly V1Pod[], workloads: readonly Workload[]): Map<string, { namespace: string; ref: string }[]> {
  const users = new Map<string, { namespace: string; ref: string }[]>();
  const use = (selector: string | undefined, namespace: string, ref: string) => {
    if (!selector) return;
    users.set(selector, [...(users.get(selector) ?? []), { namespace, ref }]);
  };
  for (const p of pods) {
    if (p.metadata?.deletionTimestamp || p.status?.phase === "Succeeded" || p.status?.phase === "Failed") continue;
    use(p.metadata?.labels?.[BINDING_LABEL], p.metadata?.namespace ?? "default", `pod/${p.metadata?.name}`);
  }
  for (const w of workloads) {
    if (jobFinished(w)) continue;
    use(podTemplateOf(w)?.metadata?.labels?.[BINDING_LABEL], w.metadata.namespace, workloadRef({ kind: w.kind, name: w.metadata.name }));
  }
  return users;
}

export async function readPodIdentityUse(kube: KubeSession): Promise<PodIdentityUse> {
  const [apps, batch] = await Promise.all([servedKinds(kube, "apps/v1"), servedKinds(kube, "batch/v1")]);
  const [identities, bindings, pods, ...workloads] = await Promise.all([
    kube.list<AzureIdentity>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity").catch(() => []),
    kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding").catch(() => []),
    kube.list<V1Pod>("v1", "Pod", undefined, BINDING_LABEL),
    ...KINDS.map((kind) => listWorkloads(kube, kind, { apps, batch })),
  ]);
  return { identities, bindings, users: podIdentityUsers(pods, workloads.flat()) };
}

/** Who still needs a binding (its selector, in the namespaces MIC would match it in). */
export function bindingUsers(use: PodIdentityUse, binding: AzureIdentityBinding, forceNamespaced: boolean): { namespace: string; ref: string }[] {
  const identity = identityOf(binding, use.identities);
  return (use.users.get(bindingSpec(binding).selector) ?? []).filter((u) => !identity || reaches(binding, identity, u.namespace, forceNamespaced));
}
