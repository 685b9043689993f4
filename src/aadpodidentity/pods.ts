import type { V1Pod } from "@kubernetes/client-node";

/**
 * Whether a pod still holds its address and runs: not being deleted and not finished. A terminating or finished
 * pod's address may already be another pod's (CNI plugins hand addresses out again at once).
 */
export function isActivePod(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";
}

/** The pods that may own a source address: status.podIP equal, and still holding it. */
export function podsWithIp(pods: readonly V1Pod[], ip: string): V1Pod[] {
  return pods.filter((p) => p.status?.podIP === ip && isActivePod(p));
}

export const podKey = (p: V1Pod): string => `${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`;
