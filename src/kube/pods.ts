import { setTimeout as sleep } from "node:timers/promises";
import type { V1Pod } from "@kubernetes/client-node";
import { fromKubeError } from "./errors.js";
import type { KubeSession } from "./session.js";

/** Single pods, for workloads run once (the demo): create, wait for the end, delete. */

const POLL_MS = 500;

const header = (namespace: string, name: string) => ({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace } });

export async function readPod(kube: KubeSession, namespace: string, name: string): Promise<V1Pod | undefined> {
  return kube.read<V1Pod>(header(namespace, name));
}

/** Waits until the pod no longer exists; false when it still does after the timeout. */
export async function waitForPodGone(kube: KubeSession, namespace: string, name: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await readPod(kube, namespace, name)) {
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** Deletes the pod and waits until it is gone; true when it existed. */
export async function deletePod(kube: KubeSession, namespace: string, name: string, timeoutMs: number): Promise<boolean> {
  const existed = await kube.delete(header(namespace, name));
  if (existed) await waitForPodGone(kube, namespace, name, timeoutMs);
  return existed;
}

/**
 * Creates the pod; one left from an earlier run is deleted first (a pod's spec cannot be changed, and an ended
 * pod with restartPolicy Never never runs again).
 */
export async function createPod(kube: KubeSession, pod: V1Pod, timeoutMs: number): Promise<V1Pod> {
  const namespace = pod.metadata!.namespace!;
  const name = pod.metadata!.name!;
  await deletePod(kube, namespace, name, timeoutMs);
  try {
    return (await kube.objects.create({ apiVersion: "v1", kind: "Pod", ...pod } as never)) as V1Pod;
  } catch (err) {
    throw fromKubeError(err, `creating pod ${namespace}/${name}`, kube.server);
  }
}

export function podEnded(pod: V1Pod | undefined): boolean {
  return pod?.status?.phase === "Succeeded" || pod?.status?.phase === "Failed";
}

/** The pod's state in a few words: phase, then why it waits or how its container ended. */
export function podState(pod: V1Pod | undefined): string {
  if (!pod) return "gone";
  const phase = pod.status?.phase ?? "Pending";
  const container = pod.status?.containerStatuses?.[0]?.state;
  const waiting = container?.waiting;
  const terminated = container?.terminated;
  const unscheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
  const detail = terminated
    ? `exit code ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ""}`
    : waiting
      ? `${waiting.reason ?? "waiting"}${waiting.message ? `: ${waiting.message}` : ""}`
      : unscheduled
        ? `${unscheduled.reason ?? "Unschedulable"}${unscheduled.message ? `: ${unscheduled.message}` : ""}`
        : pod.status?.reason ?? "";
  return detail ? `${phase} (${detail})` : phase;
}

/**
 * Waits until the pod has ended (Succeeded or Failed), telling each change of state. Returns the last pod seen
 * and whether it ended within the timeout.
 */
export async function waitForPodEnd(
  kube: KubeSession,
  namespace: string,
  name: string,
  options: { timeoutMs: number; onState?: (state: string) => void },
): Promise<{ pod: V1Pod | undefined; ended: boolean }> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "";
  for (;;) {
    const pod = await readPod(kube, namespace, name);
    const state = podState(pod);
    if (state !== last) options.onState?.(state);
    last = state;
    if (podEnded(pod) || !pod) return { pod, ended: podEnded(pod) };
    if (Date.now() > deadline) return { pod, ended: false };
    await sleep(POLL_MS);
  }
}
