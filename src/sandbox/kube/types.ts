/** The shapes every module shares: objects as JSON, metadata, and the resource descriptor. */

/** A time as Kubernetes serializes metav1.Time: RFC 3339 in seconds. */
export function kubeTime(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The characters kube-apiserver uses for generated name suffixes and hashes (no vowels, no look-alikes). */
export const SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue | undefined;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: JsonObject;
  subresource?: string;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
  [field: string]: unknown;
}

/** Any stored object. Built-in and custom kinds alike are kept as JSON, as the API serves them. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

/**
 * How a list merges. A map key may have a schema default (a container port's protocol is TCP): an item that
 * leaves it out has that key all the same, as structured-merge-diff treats it.
 */
export type ListMergeRule = { type: "map"; keys: string[]; keyDefaults?: Record<string, unknown> } | { type: "set" } | { type: "atomic" };

/** The value of one map key of a list item, its schema default when the item leaves it out. */
export function listKeyValue(item: Record<string, unknown>, rule: { keys: string[]; keyDefaults?: Record<string, unknown> }, key: string): unknown {
  return item[key] ?? rule.keyDefaults?.[key];
}

export function apiVersionOf(rt: { group: string; version: string }): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}
