import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import { bindingReaches, identityOfBinding } from "../../../aadpodidentity/matching.js";
import { BINDING_LABEL, type AzureIdentity, type AzureIdentityBinding } from "../../../aadpodidentity/types.js";
import type { DeclaredNamespacedMode } from "../../../aadpodidentity/contract/namespaced-mode.js";
import type { DoctorContext } from "../context.js";

export const podRef = (p: V1Pod) => `Pod ${p.metadata?.namespace}/${p.metadata?.name}`;
export const bindingRef = (b: AzureIdentityBinding) => `AzureIdentityBinding ${b.metadata.namespace}/${b.metadata.name}`;

/** The AzureIdentity a binding names (MIC's rule: in the binding's own namespace). */
export const identityOf = identityOfBinding;

/** MIC's rule (aadpodidentity/matching.ts): may the binding give its identity, if it exists, to a pod of `podNamespace`? */
export function reaches(binding: AzureIdentityBinding, identity: AzureIdentity | undefined, podNamespace: string, forceNamespaced: boolean): boolean {
  return identity !== undefined && bindingReaches(binding, identity, podNamespace, forceNamespaced);
}

/** What a finding that depends on MIC's namespaced mode adds when MIC's Deployment does not show it. */
export function namespacedCaveat(mode: DeclaredNamespacedMode): string {
  return mode.unresolved ? ` (doctor takes MIC to be outside namespaced mode, but ${mode.unresolved}: if it is "true", MIC matches only within one namespace)` : "";
}

/** The pods labelled for a selector. */
export function podsWithSelector(pods: readonly V1Pod[], selector: string): V1Pod[] {
  return pods.filter((p) => p.metadata?.labels?.[BINDING_LABEL] === selector);
}

/** The workload a user labels for a pod (`deployment/web`, as `podid bind --label` takes), else the pod itself. */
export async function workloadOf(ctx: DoctorContext, pod: V1Pod): Promise<string> {
  const ns = pod.metadata?.namespace ?? "default";
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];
  try {
    if (owner?.kind === "ReplicaSet") {
      const rs = await ctx.read<KubernetesObject>({ apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: owner.name, namespace: ns } });
      const deploy = rs?.metadata?.ownerReferences?.find((o) => o.kind === "Deployment");
      if (deploy) return `deployment/${deploy.name}`;
    }
    if (owner && ["StatefulSet", "DaemonSet", "Job"].includes(owner.kind)) return `${owner.kind.toLowerCase()}/${owner.name}`;
  } catch {
    // unreadable owner: label the pod itself
  }
  return `pod/${pod.metadata?.name}`;
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean" on a mistyped selector. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest candidate within a typo's reach (distance at most a third of the length, at least 1), if any. */
export function closest(value: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of new Set(candidates)) {
    const d = editDistance(value.toLowerCase(), c.toLowerCase());
    if (d <= Math.max(1, Math.floor(Math.max(value.length, c.length) / 3)) && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}
