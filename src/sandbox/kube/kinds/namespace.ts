import { Errors } from "../errors.js";
import type { KindSpec } from "../registry/resources.js";
import { isPlainObject, type KubeObject } from "../types.js";
import { dns1123Label } from "../validation.js";
import { child } from "./pod-spec.js";

/**
 * Namespaces: created Active with the `kubernetes` finalizer in spec.finalizers, which holds a deletion until the
 * namespace controller has emptied the namespace (controllers/namespace.ts); the system ones cannot be deleted.
 */

/** Namespaces kube-apiserver refuses to delete. */
const PROTECTED_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);

function specFinalizers(ns: KubeObject): string[] {
  const finalizers = isPlainObject(ns.spec) ? ns.spec.finalizers : undefined;
  return Array.isArray(finalizers) ? (finalizers as string[]) : [];
}

export const namespaces: KindSpec = {
  group: "",
  version: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
  shortNames: ["ns"],
  status: true,
  verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  strategy: {
    validateName: dns1123Label,
    selectableFields: ["status.phase"],
    prepareForCreate(o) {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": o.metadata.name ?? "" };
      child(o, "spec").finalizers ??= ["kubernetes"];
      o.status = { phase: "Active" };
    },
    checkDelete(o) {
      if (PROTECTED_NAMESPACES.has(o.metadata.name ?? "")) throw Errors.forbidden({ group: "", resource: "namespaces" }, o.metadata.name, "this namespace may not be deleted");
    },
    deletionFinalizers: specFinalizers,
    prepareForDelete(o) {
      o.status = { ...(isPlainObject(o.status) ? o.status : {}), phase: "Terminating" };
    },
  },
};
