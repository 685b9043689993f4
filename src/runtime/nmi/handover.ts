import { LiteKubeError, type LiteKubeClient } from "../../kube/lite/client.js";

/** This NMI's own pod, as the manifests name it (NMI_POD_NAME, NMI_POD_NAMESPACE from the downward API). */
export interface OwnPod {
  namespace: string;
  name: string;
}

/**
 * What becomes of this node's metadata traffic when this NMI stops:
 * - "successor": its DaemonSet still exists and is not being deleted (a rollout, a restarted pod), so another NMI
 *   takes the node over. The redirect stays: until the successor listens, pods' requests fail instead of reaching
 *   the node's IMDS, where they would get the node's own identity; and a successor that already rewrote the chain
 *   keeps it.
 * - "removed": the DaemonSet is gone or going (uninstall), or this NMI is no DaemonSet's pod: the redirect goes, so
 *   pods reach IMDS as on a node without pod identity. So too when the API server refuses NMI (401/403): uninstall
 *   deletes NMI's RBAC and ServiceAccount right after its DaemonSet, usually before the pods' SIGTERM.
 * - "unknown": the API server could not say. The redirect stays (fail closed); the log says how to remove it by hand.
 */
export type Handover = "successor" | "removed" | "unknown";

type Owned = { metadata?: { ownerReferences?: { kind?: string; name?: string; controller?: boolean }[]; deletionTimestamp?: string } };

export async function handoverOnStop(kube: Pick<LiteKubeClient, "get">, pod: OwnPod | undefined): Promise<Handover> {
  if (!pod) return "removed";
  try {
    const self = await kube.get<Owned>(`/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}`);
    const owner = self?.metadata?.ownerReferences?.find((o) => o.controller && o.kind === "DaemonSet");
    if (!owner?.name) return "removed";
    const ds = await kube.get<Owned>(`/apis/apps/v1/namespaces/${encodeURIComponent(pod.namespace)}/daemonsets/${encodeURIComponent(owner.name)}`);
    return ds && !ds.metadata?.deletionTimestamp ? "successor" : "removed";
  } catch (err) {
    return err instanceof LiteKubeError && (err.code === 401 || err.code === 403) ? "removed" : "unknown";
  }
}
