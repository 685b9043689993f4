import jsonPatch from "fast-json-patch";
import { Errors } from "./errors.js";
import { jsonMergePatch } from "./patch/merge.js";
import type { PatchType } from "./registry/requests.js";
import { isPlainObject, type KubeObject } from "./types.js";

/** The /scale subresource: an autoscaling/v1 Scale view of spec.replicas, as kube-apiserver serves it. */

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };

function selectorString(selector: Selector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    if (e.operator === "In" || e.operator === "NotIn") parts.push(`${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(",")})`);
    else parts.push(e.operator === "Exists" ? e.key : `!${e.key}`);
  }
  return parts.join(",");
}

export function scaleOf(o: KubeObject): KubeObject {
  const spec = (o.spec ?? {}) as { replicas?: number; selector?: Selector };
  const status = (o.status ?? {}) as { replicas?: number };
  const m = o.metadata;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status.replicas ?? 0, selector: selectorString(spec.selector) },
  };
}

/** The Scale a PATCH makes of the current one (server-side apply is not offered on /scale here). */
export function patchScale(current: KubeObject, type: PatchType, patch: unknown): KubeObject {
  if (type === "apply") throw Errors.unsupportedMediaType("application/apply-patch+yaml", ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"]);
  if (type !== "json") return jsonMergePatch(current, patch) as KubeObject;
  if (!Array.isArray(patch)) throw Errors.badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  return jsonPatch.applyPatch(structuredClone(current), patch as jsonPatch.Operation[], true, false).newDocument;
}

/** spec.replicas of a written Scale, validated as the API server does; a stale resourceVersion is a conflict. */
export function replicasOf(wanted: unknown, live: KubeObject, resource: { group: string; plural: string }): number {
  if (!isPlainObject(wanted)) throw Errors.badRequest("the request body is not a Scale");
  const rv = (wanted.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
  if (rv && rv !== live.metadata.resourceVersion) throw Errors.staleResourceVersion({ group: resource.group, resource: resource.plural }, live.metadata.name ?? "");
  const replicas = (wanted.spec as { replicas?: unknown } | undefined)?.replicas;
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
    throw Errors.invalid({ group: "autoscaling", kind: "Scale" }, live.metadata.name ?? "", [{ type: "FieldValueInvalid", field: "spec.replicas", value: String(replicas), detail: "must be greater than or equal to 0" }]);
  }
  return replicas;
}
