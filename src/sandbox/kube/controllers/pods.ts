import { createHash } from "node:crypto";
import { KubeError } from "../errors.js";
import type { DeleteOptions, ListOptions, WriteOptions } from "../registry/requests.js";
import type { KubeObject, OwnerReference } from "../types.js";
import { kubeTime, SAFE_ALPHABET } from "../types.js";
import { KINDS, type Condition, type Node, type Pod, type PodTemplate } from "./objects.js";

/** What the workload controllers share: their view of the cluster, owner references, pod creation and status writes. */

export const MANAGER = "kube-controller-manager";

type Kind = { apiVersion: string; kind: string };

/** What the workload controllers ask of the API server (the in-process KubeStore answers it). */
export interface ControllerClient {
  list<T extends KubeObject>(kind: Kind, options?: ListOptions): { items: T[] };
  create<T extends KubeObject>(object: T, options?: WriteOptions): T;
  update<T extends KubeObject>(object: T, options?: WriteOptions): T;
  updateStatus<T extends KubeObject>(object: T, options?: WriteOptions): T;
  delete(ref: Kind & { namespace?: string; name: string }, options?: DeleteOptions): unknown;
}

export interface ControllerContext {
  store: ControllerClient;
  event(object: KubeObject, type: "Normal" | "Warning", reason: string, message: string): void;
  /** Nodes whose pods can run (the sandbox's own). */
  nodes(): Node[];
  /** The sandbox clock (CronJob schedules, Job deadlines), in epoch ms. */
  now(): number;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  return value;
}

/** A short, stable, DNS-safe hash of a pod template (the pod-template-hash / controller-revision-hash label). */
export function templateHash(template: unknown): string {
  const digest = createHash("sha256").update(JSON.stringify(canonical(template))).digest();
  return Array.from(digest.subarray(0, 10), (b) => SAFE_ALPHABET[b % SAFE_ALPHABET.length]).join("");
}

export function ownerRef(owner: KubeObject): OwnerReference {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name ?? "", uid: owner.metadata.uid ?? "", controller: true, blockOwnerDeletion: true };
}

export function controllerUid(o: KubeObject): string | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

/** Objects of a kind in the owner's namespace that the owner controls. */
export function owned<T extends KubeObject>(ctx: ControllerContext, kind: Kind, owner: KubeObject): T[] {
  return ctx.store.list<T>(kind, { namespace: owner.metadata.namespace }).items.filter((o) => controllerUid(o) === owner.metadata.uid);
}

export function ownedPods(ctx: ControllerContext, owner: KubeObject): Pod[] {
  return owned<Pod>(ctx, KINDS.pod, owner);
}

export function isFinished(pod: Pod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

/** Neither being deleted nor finished: a pod that counts toward its owner's replicas. */
export function isActive(pod: Pod): boolean {
  return !pod.metadata.deletionTimestamp && !isFinished(pod);
}

export function isPodReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Conditions keep their lastTransitionTime (and lastUpdateTime) while their status stays. */
export function conditions(prior: Condition[] | undefined, next: Condition[], withUpdateTime = true): Condition[] {
  return next.map((c) => {
    const old = prior?.find((p) => p.type === c.type);
    const same = old !== undefined && old.status === c.status;
    const time = same ? (old.lastTransitionTime ?? kubeTime()) : kubeTime();
    return { ...c, ...(withUpdateTime ? { lastUpdateTime: same ? (old.lastUpdateTime ?? time) : time } : {}), lastTransitionTime: time };
  });
}

function sameStatus(a: unknown, b: unknown): boolean {
  const strip = (s: unknown) => JSON.stringify(canonical(s), (k, v) => (k === "lastTransitionTime" || k === "lastUpdateTime" ? undefined : v));
  return strip(a) === strip(b);
}

/** Writes an owner's status when it differs (times aside). */
export function writeStatus(ctx: ControllerContext, o: KubeObject, status: Record<string, unknown>): void {
  if (sameStatus(o.status ?? {}, status)) return;
  ctx.store.updateStatus({ ...o, status }, { fieldManager: MANAGER });
}

export interface NewPod {
  /** A fixed name (a StatefulSet's); otherwise `<owner>-` plus a generated suffix. */
  name?: string;
  labels?: Record<string, string>;
  spec?: Record<string, unknown>;
  /** The SuccessfulCreate event's message, when the controller words it its own way (a StatefulSet's). */
  created?: (pod: string) => string;
}

/**
 * Creates a pod from the owner's template, owned by it (the controllers' PodControl). A pod the API server refuses
 * (invalid, denied by admission) is a FailedCreate event on the owner, as the controllers report it; undefined.
 */
export function createPod(ctx: ControllerContext, owner: KubeObject, template: PodTemplate, extra: NewPod = {}): Pod | undefined {
  const annotations = template.metadata?.annotations;
  try {
    const pod = ctx.store.create<Pod>(
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          ...(extra.name ? { name: extra.name } : { generateName: `${owner.metadata.name}-` }),
          namespace: owner.metadata.namespace,
          labels: { ...(template.metadata?.labels ?? {}), ...(extra.labels ?? {}) },
          ...(annotations ? { annotations } : {}),
          ownerReferences: [ownerRef(owner)],
        },
        spec: { ...(template.spec ?? {}), ...(extra.spec ?? {}) },
      },
      { fieldManager: MANAGER },
    );
    ctx.event(owner, "Normal", "SuccessfulCreate", extra.created?.(pod.metadata.name ?? "") ?? `Created pod: ${pod.metadata.name}`);
    return pod;
  } catch (err) {
    if (!(err instanceof KubeError) || err.code === 409) throw err;
    ctx.event(owner, "Warning", "FailedCreate", `Error creating: ${err.message}`);
    return undefined;
  }
}

export function deletePod(ctx: ControllerContext, owner: KubeObject, pod: Pod, message = `Deleted pod: ${pod.metadata.name}`): void {
  ctx.store.delete({ ...KINDS.pod, namespace: pod.metadata.namespace, name: pod.metadata.name ?? "" });
  ctx.event(owner, "Normal", "SuccessfulDelete", message);
}
