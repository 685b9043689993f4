import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import { BINDING_LABEL, isNamespacedIdentity, type AzureIdentity, type AzureIdentityBinding } from "../../../kube/aadpodidentity.js";
import type { DoctorContext } from "../context.js";

export const podRef = (p: V1Pod) => `Pod ${p.metadata?.namespace}/${p.metadata?.name}`;
export const bindingRef = (b: AzureIdentityBinding) => `AzureIdentityBinding ${b.metadata.namespace}/${b.metadata.name}`;

/** The AzureIdentity a binding names: MIC looks only in the binding's own namespace. */
export function identityOf(binding: AzureIdentityBinding, identities: readonly AzureIdentity[]): AzureIdentity | undefined {
  return identities.find((i) => i.metadata.name === binding.spec?.azureIdentity && (i.metadata.namespace ?? "default") === (binding.metadata.namespace ?? "default"));
}

/** MIC's namespace rule: a namespaced identity (annotation, or MIC's --forceNamespaced) reaches only pods of its namespace. */
export function reaches(binding: AzureIdentityBinding, identity: AzureIdentity | undefined, podNamespace: string, forceNamespaced: boolean): boolean {
  if (!identity) return false;
  if (!(forceNamespaced || isNamespacedIdentity(identity))) return true;
  return (binding.metadata.namespace ?? "default") === podNamespace && (identity.metadata.namespace ?? "default") === podNamespace;
}

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
