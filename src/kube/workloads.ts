import { AppsV1Api, BatchV1Api, PatchStrategy, type KubernetesObject, type V1Pod, type V1PodTemplateSpec } from "@kubernetes/client-node";
import { FIELD_MANAGER } from "./session.js";
import { KubernetesCode, PodidError } from "../errors/index.js";
import { fromKubeError, isKubeNotFound } from "./errors.js";
import type { KubeSession } from "./session.js";

/**
 * The workloads that own pods (Deployment, StatefulSet, DaemonSet, Job, CronJob), where each keeps its pod
 * template, how a pod is traced to the workload that made it (owner references, by uid), and when a workload's
 * pods all run its current template.
 */

export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob";

interface KindInfo {
  apiVersion: string;
  /** Where the pod template sits in the object. */
  templatePath: readonly string[];
}

export const WORKLOAD_KINDS: Record<WorkloadKind, KindInfo> = {
  Deployment: { apiVersion: "apps/v1", templatePath: ["spec", "template"] },
  StatefulSet: { apiVersion: "apps/v1", templatePath: ["spec", "template"] },
  DaemonSet: { apiVersion: "apps/v1", templatePath: ["spec", "template"] },
  Job: { apiVersion: "batch/v1", templatePath: ["spec", "template"] },
  CronJob: { apiVersion: "batch/v1", templatePath: ["spec", "jobTemplate", "spec", "template"] },
};

export function isWorkloadKind(kind: string | undefined): kind is WorkloadKind {
  return kind !== undefined && Object.hasOwn(WORKLOAD_KINDS, kind);
}

export interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  updatedReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
  desiredNumberScheduled?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
  conditions?: { type: string; status: string }[];
}

export type Workload = KubernetesObject & {
  kind: WorkloadKind;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    resourceVersion?: string;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec?: { replicas?: number; updateStrategy?: { type?: string }; strategy?: { type?: string }; [other: string]: unknown };
  status?: WorkloadStatus;
};

/** `deployment/web`, as kubectl and `podid bind --label` spell a workload. */
export function workloadRef(w: { kind: string; name: string }): string {
  return `${w.kind.toLowerCase()}/${w.name}`;
}

export function podTemplateOf(w: Workload): V1PodTemplateSpec | undefined {
  let at: unknown = w;
  for (const key of WORKLOAD_KINDS[w.kind].templatePath) at = (at as Record<string, unknown> | undefined)?.[key];
  return at as V1PodTemplateSpec | undefined;
}

/** An object holding only `value` at the kind's pod template path (for a patch or an applied configuration). */
export function atTemplate(kind: WorkloadKind, value: Record<string, unknown>): Record<string, unknown> {
  const path = WORKLOAD_KINDS[kind].templatePath;
  let object: Record<string, unknown> = value;
  for (const key of [...path].reverse()) object = { [key]: object };
  return object;
}

/** The ServiceAccount a pod template runs as ("default" when it names none). */
export function templateServiceAccount(template: V1PodTemplateSpec | undefined): string {
  return template?.spec?.serviceAccountName || template?.spec?.serviceAccount || "default";
}

/** What a pod belongs to, by its controller's owner references. */
export type PodOwner =
  | { type: "workload"; kind: WorkloadKind; name: string; uid?: string }
  | { type: "bare" }
  | { type: "other"; kind: string; name: string };

type Owned = { metadata?: { uid?: string; name?: string; ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[] } };

function controllerOf(o: Owned) {
  const refs = o.metadata?.ownerReferences ?? [];
  return refs.find((r) => r.controller) ?? refs[0];
}

/** The ReplicaSets and Jobs of a namespace, by uid: the links between a pod and its Deployment or CronJob. */
export interface OwnerIndex {
  replicaSets: Map<string, Owned>;
  jobs: Map<string, Owned>;
}

export function ownerIndex(replicaSets: readonly Owned[], jobs: readonly Owned[]): OwnerIndex {
  const byUid = (list: readonly Owned[]) => new Map(list.filter((o) => o.metadata?.uid).map((o) => [o.metadata!.uid!, o]));
  return { replicaSets: byUid(replicaSets), jobs: byUid(jobs) };
}

/**
 * Follows a pod's controller up to the workload a user edits: ReplicaSet -> Deployment, Job -> CronJob, or the
 * StatefulSet, DaemonSet or Job itself. A ReplicaSet without a Deployment, or an owner of another kind (an
 * operator's), is "other"; a pod without an owner is bare.
 */
export function podOwner(pod: Owned, index: OwnerIndex): PodOwner {
  const ref = controllerOf(pod);
  if (!ref) return { type: "bare" };
  const up = (via: Owned | undefined, kind: WorkloadKind): PodOwner | undefined => {
    const parent = via ? controllerOf(via) : undefined;
    return parent?.kind === kind ? { type: "workload", kind, name: parent.name, uid: parent.uid } : undefined;
  };
  switch (ref.kind) {
    case "ReplicaSet":
      return up(index.replicaSets.get(ref.uid), "Deployment") ?? { type: "other", kind: "ReplicaSet", name: ref.name };
    case "Job":
      return up(index.jobs.get(ref.uid), "CronJob") ?? { type: "workload", kind: "Job", name: ref.name, uid: ref.uid };
    case "StatefulSet":
    case "DaemonSet":
      return { type: "workload", kind: ref.kind, name: ref.name, uid: ref.uid };
    default:
      return { type: "other", kind: ref.kind, name: ref.name };
  }
}

/** A Job that has ended (Complete or Failed): its pods are done, and none of them asks for a token again. */
export function jobFinished(w: Workload): boolean {
  return w.kind === "Job" && (w.status?.conditions ?? []).some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
}

/** The CronJob that made a Job, if one did: the CronJob's template is the one to change. */
export function cronJobOf(job: Workload): string | undefined {
  const owner = controllerOf(job);
  return job.kind === "Job" && owner?.kind === "CronJob" ? owner.name : undefined;
}

/** The pods of a workload among a namespace's pods. */
export function podsOf(w: Workload, pods: readonly V1Pod[], index: OwnerIndex): V1Pod[] {
  return pods.filter((p) => {
    if (p.metadata?.namespace !== w.metadata.namespace) return false;
    const owner = podOwner(p, index);
    return owner.type === "workload" && owner.kind === w.kind && owner.name === w.metadata.name && (!owner.uid || !w.metadata.uid || owner.uid === w.metadata.uid);
  });
}

export interface RolloutState {
  /** Every pod runs the current template and is available (always true for Jobs and CronJobs: nothing rolls). */
  complete: boolean;
  summary: string;
}

/** Whether a workload's rollout is done, from its status as its controller writes it. */
export function rolloutState(w: Workload): RolloutState {
  const s = w.status ?? {};
  const observed = (s.observedGeneration ?? 0) >= (w.metadata.generation ?? 0);
  const want = w.spec?.replicas ?? 1;
  switch (w.kind) {
    case "Deployment": {
      const summary = `${s.updatedReplicas ?? 0} of ${want} updated, ${s.availableReplicas ?? 0} available, ${s.replicas ?? 0} in all`;
      return { complete: observed && (s.updatedReplicas ?? 0) === want && (s.availableReplicas ?? 0) === want && (s.replicas ?? 0) === want, summary };
    }
    case "StatefulSet": {
      const onDelete = w.spec?.updateStrategy?.type === "OnDelete";
      const revisions = !s.updateRevision || s.currentRevision === s.updateRevision;
      const summary = `${s.updatedReplicas ?? 0} of ${want} updated, ${s.readyReplicas ?? 0} ready${onDelete && !revisions ? " (updateStrategy OnDelete: pods are replaced only when deleted)" : ""}`;
      return { complete: observed && revisions && (s.updatedReplicas ?? 0) === want && (s.readyReplicas ?? 0) === want, summary };
    }
    case "DaemonSet": {
      const desired = s.desiredNumberScheduled ?? 0;
      const onDelete = w.spec?.updateStrategy?.type === "OnDelete";
      const summary = `${s.updatedNumberScheduled ?? 0} of ${desired} updated, ${s.numberAvailable ?? 0} available${onDelete ? " (updateStrategy OnDelete: pods are replaced only when deleted)" : ""}`;
      return { complete: observed && (s.updatedNumberScheduled ?? 0) === desired && (s.numberAvailable ?? 0) === desired, summary };
    }
    default:
      return { complete: true, summary: "nothing rolls out: the next run uses the new template" };
  }
}

export function workloadHeader(kind: WorkloadKind, namespace: string, name: string) {
  return { apiVersion: WORKLOAD_KINDS[kind].apiVersion, kind, metadata: { name, namespace } };
}

export function readWorkload(kube: KubeSession, kind: WorkloadKind, namespace: string, name: string): Promise<Workload | undefined> {
  return kube.read<Workload>(workloadHeader(kind, namespace, name));
}

/** The kinds the API server serves in a group version (discovery); none when it does not serve the group. */
export async function servedKinds(kube: KubeSession, apiVersion: "apps/v1" | "batch/v1"): Promise<Set<string>> {
  try {
    const api = apiVersion === "apps/v1" ? kube.config.makeApiClient(AppsV1Api) : kube.config.makeApiClient(BatchV1Api);
    return new Set((await api.getAPIResources()).resources.map((r) => r.kind));
  } catch (err) {
    if (isKubeNotFound(err)) return new Set();
    throw fromKubeError(err, `discovering ${apiVersion}`, kube.server);
  }
}

/** Lists a workload kind, or nothing when the cluster does not serve it: a kind nobody can create holds no workloads. */
export async function listWorkloads(kube: KubeSession, kind: WorkloadKind | "ReplicaSet", served: { apps: Set<string>; batch: Set<string> }, namespace?: string): Promise<Workload[]> {
  const apiVersion = kind === "ReplicaSet" ? "apps/v1" : WORKLOAD_KINDS[kind].apiVersion;
  if (!(apiVersion === "apps/v1" ? served.apps : served.batch).has(kind)) return [];
  return kube.list<Workload>(apiVersion, kind, namespace);
}

/**
 * A JSON merge patch (null removes a key) that applies only to the version read (metadata.resourceVersion), so
 * nothing written in between is overwritten: the caller reads again and decides again on a conflict.
 */
export async function mergePatch<T extends KubernetesObject>(kube: KubeSession, header: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }, resourceVersion: string | undefined, patch: Record<string, unknown>): Promise<T> {
  const { metadata, ...rest } = patch as { metadata?: Record<string, unknown> };
  const body = { ...rest, apiVersion: header.apiVersion, kind: header.kind, metadata: { ...metadata, name: header.metadata.name, namespace: header.metadata.namespace, ...(resourceVersion ? { resourceVersion } : {}) } };
  try {
    return (await kube.objects.patch(body as KubernetesObject, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch)) as T;
  } catch (err) {
    throw fromKubeError(err, `patching ${header.kind} ${header.metadata.namespace ? header.metadata.namespace + "/" : ""}${header.metadata.name}`, kube.server);
  }
}

/**
 * Reads the object, asks `change` for a merge patch against what it read (undefined: nothing to do), and patches
 * that version; when someone wrote in between (409), reads and decides again, a few times.
 */
export async function patchLatest<T extends KubernetesObject>(
  kube: KubeSession,
  header: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
  change: (current: T) => Record<string, unknown> | undefined,
): Promise<{ object?: T; patched: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const current = await kube.read<T>(header);
    if (!current) return { patched: false };
    const patch = change(current);
    if (!patch) return { object: current, patched: false };
    try {
      return { object: await mergePatch<T>(kube, header, current.metadata?.resourceVersion, patch), patched: true };
    } catch (err) {
      if (attempt >= 5 || !(err instanceof PodidError && err.code === KubernetesCode.KubernetesConflict)) throw err;
    }
  }
}
