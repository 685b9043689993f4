import type { V1Deployment, V1ObjectMeta, V1OwnerReference, V1Pod, V1ReplicaSet } from "@kubernetes/client-node";
import { MIC_DEPLOYMENT_NAME } from "./contract/names.js";
import { exceptionPodLabels } from "./spec.js";
import type { AzurePodIdentityException } from "./types.js";

/** Which pods keep the node's own identity: those an AzurePodIdentityException names, and MIC's own. */

/** Upstream: excepted when any one key of podLabels is on the pod with the same value (value case-insensitive). */
export function isExceptionPod(pod: V1Pod, exceptions: readonly AzurePodIdentityException[]): boolean {
  const labels = pod.metadata?.labels ?? {};
  return exceptions.some(
    (e) =>
      e.metadata.namespace === pod.metadata?.namespace &&
      Object.entries(exceptionPodLabels(e)).some(([k, v]) => labels[k] !== undefined && labels[k].toLowerCase() === v.toLowerCase()),
  );
}

const controllerOf = (meta: V1ObjectMeta | undefined): V1OwnerReference | undefined => meta?.ownerReferences?.find((o) => o.controller === true);

/**
 * MIC's own pods, which keep the node's identity: pods of --MICNamespace whose controller is a ReplicaSet (known by
 * name and uid) whose controller is the Deployment podid installs MIC as — that Deployment itself, by uid, and one
 * whose selector the ReplicaSet's labels match (as the Deployment controller adopts only those). No name prefix
 * counts (upstream passes any ReplicaSet named mic* in that namespace): a workload named like MIC is a workload, and a
 * ReplicaSet claiming a made-up or foreign owner is no MIC's.
 */
export function isMicPod(pod: V1Pod, replicaSets: readonly V1ReplicaSet[], deployments: readonly V1Deployment[], micNamespace: string): boolean {
  const namespace = pod.metadata?.namespace;
  if (!namespace || namespace !== micNamespace) return false;
  const owner = controllerOf(pod.metadata);
  if (owner?.kind !== "ReplicaSet" || owner.apiVersion !== "apps/v1") return false;
  const rs = replicaSets.find((r) => r.metadata?.namespace === namespace && r.metadata?.name === owner.name && r.metadata?.uid === owner.uid);
  const ref = controllerOf(rs?.metadata);
  if (ref?.kind !== "Deployment" || ref.apiVersion !== "apps/v1" || ref.name !== MIC_DEPLOYMENT_NAME) return false;
  const deployment = deployments.find((d) => d.metadata?.namespace === namespace && d.metadata?.name === ref.name && d.metadata?.uid === ref.uid);
  const wanted = Object.entries(deployment?.spec?.selector?.matchLabels ?? {});
  return Boolean(deployment) && wanted.length > 0 && wanted.every(([k, v]) => rs?.metadata?.labels?.[k] === v);
}

/**
 * Upstream NMI's MIC shortcut (aad-pod-identity 1.8): any pod of --MICNamespace owned by a ReplicaSet whose name
 * starts with "mic". podid's NMI never applies it (see isMicPod); doctor uses it to model an upstream NMI.
 */
export function upstreamMicShortcut(pod: V1Pod, micNamespace: string): boolean {
  if ((pod.metadata?.namespace ?? "").toLowerCase() !== micNamespace.toLowerCase()) return false;
  return (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === "ReplicaSet" && o.name.startsWith("mic"));
}
