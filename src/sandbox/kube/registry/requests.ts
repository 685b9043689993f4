import type { Storage, WatchEventType } from "../storage.js";
import type { KubeObject } from "../types.js";
import type { ResourceType } from "./resources.js";

/** What the generic store is asked (the options of each verb), what it answers, and what it tells its observers. */

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** The field manager (managedFields); defaults to the client's user agent name. */
  fieldManager?: string;
  subresource?: string;
  /** `Strict` refuses unknown fields of custom objects (instead of pruning them silently). */
  fieldValidation?: string;
}

export type PropagationPolicy = "Foreground" | "Background" | "Orphan";

export interface DeleteOptions extends WriteOptions {
  propagationPolicy?: PropagationPolicy;
  /** Pods: seconds the kubelet gives the containers before the pod goes; 0 deletes at once (--force). */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type PatchType = "json" | "merge" | "strategic" | "apply";

export interface PatchOptions extends WriteOptions {
  force?: boolean;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Unset or "0": start with ADDED events for what exists now. */
  resourceVersion?: string;
}

export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
}

export interface DeleteResult {
  object: KubeObject;
  /** False when finalizers (or graceful foreground deletion) keep the object for now: HTTP 202. */
  deleted: boolean;
  /** A pod marked for graceful deletion: its kubelet finishes it (HTTP 200). */
  graceful?: boolean;
}

/** A mutating admission step for new objects: changes the object in place, or throws the KubeError it denies with. */
export type Admission = (rt: ResourceType, object: KubeObject) => void;

/**
 * A mutating admission webhook the API server is started with, run after the built-in admission (the namespace
 * exists, a pod's ServiceAccount exists) and before validation; it may read stored objects (a pod's ServiceAccount).
 */
export type CreateAdmission = (rt: ResourceType, object: KubeObject, storage: Storage) => void;

/** A committed write, as the store's observers hear of it (after the kind's after-hook). */
export interface CommittedWrite {
  type: WatchEventType;
  rt: ResourceType;
  object: KubeObject;
}

export type StoreObserver = (write: CommittedWrite) => void;
