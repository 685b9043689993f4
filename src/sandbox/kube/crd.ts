import { Errors, type FieldError } from "./errors.js";
import type { Strategy } from "./registry/strategy.js";
import { METADATA_RULES, STANDARD_VERBS } from "./registry/resources.js";
import type { KubeObject, ListMergeRule, PrinterColumn } from "./types.js";
import type { ResourceType } from "./registry/resources.js";
import { isPlainObject } from "./types.js";
import { dns1123Subdomain } from "./validation.js";

/**
 * CustomResourceDefinitions (apiextensions.k8s.io/v1): validation, defaulting and accepted status of the CRD
 * itself, the resources it serves, and the strategy of their objects: structural-schema handling (pruning unknown
 * fields and type checks, as the apiextensions-apiserver does).
 */

export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  required?: string[];
  enum?: unknown[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  [other: string]: unknown;
}

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: JsonSchema };
  subresources?: { status?: object; scale?: object };
  additionalPrinterColumns?: PrinterColumn[];
}

interface CrdNames {
  plural?: string;
  singular?: string;
  kind?: string;
  listKind?: string;
  shortNames?: string[];
  categories?: string[];
}

interface CrdSpec {
  group?: string;
  names?: CrdNames;
  scope?: string;
  versions?: CrdVersion[];
}

function specOf(crd: KubeObject): CrdSpec {
  return (isPlainObject(crd.spec) ? crd.spec : {}) as CrdSpec;
}

/** Fills what the API server defaults in a CRD (names, conversion). */
export function defaultCrd(crd: KubeObject): void {
  if (!isPlainObject(crd.spec)) return;
  const spec = specOf(crd);
  if (spec.names?.kind) {
    spec.names.singular ??= spec.names.kind.toLowerCase();
    spec.names.listKind ??= `${spec.names.kind}List`;
  }
  (crd.spec as Record<string, unknown>).conversion ??= { strategy: "None" };
}

export function validateCrd(crd: KubeObject): FieldError[] {
  const spec = specOf(crd);
  const errs: FieldError[] = [];
  const names = spec.names ?? {};
  if (!spec.group) errs.push({ type: "FieldValueRequired", field: "spec.group" });
  else if (!spec.group.includes(".")) errs.push({ type: "FieldValueInvalid", field: "spec.group", value: spec.group, detail: "should be a domain with at least one dot" });
  if (!names.plural) errs.push({ type: "FieldValueRequired", field: "spec.names.plural" });
  if (!names.kind) errs.push({ type: "FieldValueRequired", field: "spec.names.kind" });
  if (names.plural && spec.group && crd.metadata.name !== `${names.plural}.${spec.group}`) {
    errs.push({ type: "FieldValueInvalid", field: "metadata.name", value: crd.metadata.name, detail: 'must be spec.names.plural+"."+spec.group' });
  }
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") {
    errs.push({ type: "FieldValueNotSupported", field: "spec.scope", value: spec.scope ?? "", detail: 'supported values: "Cluster", "Namespaced"' });
  }
  const versions = spec.versions ?? [];
  if (versions.length === 0) errs.push({ type: "FieldValueInvalid", field: "spec.versions", value: versions, detail: "must have exactly one version marked as storage version" });
  else if (versions.filter((v) => v.storage).length !== 1) {
    errs.push({ type: "FieldValueInvalid", field: "spec.versions", value: versions.map((v) => v.name), detail: "must have exactly one version marked as storage version" });
  }
  versions.forEach((v, i) => {
    if (!v.schema?.openAPIV3Schema) errs.push({ type: "FieldValueRequired", field: `spec.versions[${i}].schema.openAPIV3Schema`, detail: "schemas are required" });
  });
  return errs;
}

/** The status the apiextensions controllers would settle on: names accepted, established. */
export function acceptedStatus(crd: KubeObject, now: string, previous?: unknown): Record<string, unknown> {
  const spec = specOf(crd);
  // As in kube, a condition's lastTransitionTime moves only when its status does: re-applying an unchanged CRD
  // must not change the object (nor its resourceVersion).
  const before = ((previous as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } | undefined)?.conditions ?? []);
  const since = (type: string) => before.find((c) => c.type === type && c.status === "True")?.lastTransitionTime ?? now;
  const condition = (type: string, reason: string, message: string) => ({ type, status: "True", lastTransitionTime: since(type), reason, message });
  return {
    acceptedNames: spec.names ?? {},
    conditions: [condition("NamesAccepted", "NoConflicts", "no conflicts found"), condition("Established", "InitialNamesAccepted", "the initial names have been accepted")],
    storedVersions: (spec.versions ?? []).filter((v) => v.storage).map((v) => v.name),
  };
}

/** List merge rules from x-kubernetes-list-type annotations, by dotted field path. */
function listRules(schema: JsonSchema | undefined, path: string, out: Record<string, ListMergeRule>): void {
  if (!schema) return;
  if (schema.type === "array") {
    const t = schema["x-kubernetes-list-type"];
    if (t === "map") out[path] = { type: "map", keys: schema["x-kubernetes-list-map-keys"] ?? [] };
    else if (t === "set") out[path] = { type: "set" };
    listRules(schema.items, path, out);
    return;
  }
  for (const [k, s] of Object.entries(schema.properties ?? {})) listRules(s, path ? `${path}.${k}` : k, out);
}

/** The resources a CRD serves, one per served version. */
export function resourcesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = specOf(crd);
  const names = spec.names ?? {};
  const versions = spec.versions ?? [];
  const storage = versions.find((v) => v.storage)?.name;
  return versions
    .filter((v) => v.served !== false)
    .map((v) => {
      const rules: Record<string, ListMergeRule> = { ...METADATA_RULES };
      listRules(v.schema?.openAPIV3Schema, "", rules);
      return {
        group: spec.group ?? "",
        version: v.name,
        kind: names.kind ?? "",
        listKind: names.listKind ?? `${names.kind}List`,
        plural: names.plural ?? "",
        singular: names.singular ?? (names.kind ?? "").toLowerCase(),
        namespaced: spec.scope === "Namespaced",
        shortNames: names.shortNames ?? [],
        categories: names.categories ?? [],
        verbs: STANDARD_VERBS,
        statusSubresource: v.subresources?.status !== undefined,
        generation: true,
        printerColumns: v.additionalPrinterColumns ?? [],
        listRules: rules,
        crdName: crd.metadata.name,
        storageVersion: storage,
        subresources: [],
        strategy: customResourceStrategy(names.kind ?? "", v.name, v.schema?.openAPIV3Schema),
      };
    });
}

/** A custom object's strategy: decoded by pruning to its version's schema (on write and on read), validated against it. */
function customResourceStrategy(kind: string, version: string, schema: JsonSchema | undefined): Strategy {
  return {
    validateName: dns1123Subdomain,
    selectableFields: [],
    custom: true,
    decode(o, fieldValidation) {
      const pruned = pruneCustomObject(o, schema);
      if (fieldValidation === "Strict" && pruned.dropped.length) {
        const unknown = pruned.dropped.map((f) => `unknown field "${f}"`).join(", ");
        throw Errors.badRequest(`${kind} in version "${version}" cannot be handled as a ${kind}: strict decoding error: ${unknown}`);
      }
      return pruned.object;
    },
    validate: (o) => pruneCustomObject(o, schema).errors,
    fromStorage: (o) => pruneCustomObject(o, schema).object,
  };
}

export function schemaOf(crd: KubeObject, version: string): JsonSchema | undefined {
  return specOf(crd).versions?.find((v) => v.name === version)?.schema?.openAPIV3Schema;
}

function typeMatches(type: string | undefined, value: unknown, intOrString: boolean): boolean {
  if (intOrString) return typeof value === "string" || Number.isInteger(value);
  switch (type) {
    case "string":
      return typeof value === "string";
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
    case "object":
      return isPlainObject(value);
    case "array":
      return Array.isArray(value);
    default:
      return true;
  }
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/**
 * Prunes fields the schema does not know (unless preserved) and reports type, enum and required violations,
 * with the apiextensions wording (`spec.type: Invalid value: "string": spec.type in body must be of type integer: "string"`).
 */
export function pruneAndValidate(value: unknown, schema: JsonSchema | undefined, path: string, errs: FieldError[], dropped: string[] = []): unknown {
  if (!schema) return value;
  if (value === null || value === undefined) return value;
  if (!typeMatches(schema.type, value, schema["x-kubernetes-int-or-string"] === true)) {
    errs.push({ type: "FieldValueTypeInvalid", field: path, value: typeName(value), detail: `${path} in body must be of type ${schema.type}: ${JSON.stringify(typeName(value))}` });
    return value;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errs.push({ type: "FieldValueNotSupported", field: path, value, detail: `supported values: ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}` });
  }
  if (Array.isArray(value)) return value.map((item, i) => pruneAndValidate(item, schema.items, `${path}[${i}]`, errs, dropped));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  for (const [k, v] of Object.entries(value)) {
    const child = schema.properties?.[k] ?? (isPlainObject(schema.additionalProperties) ? (schema.additionalProperties as JsonSchema) : undefined);
    const at = path ? `${path}.${k}` : k;
    if (child) out[k] = pruneAndValidate(v, child, at, errs, dropped);
    else if (preserve || schema.additionalProperties === true || (!schema.properties && !schema.additionalProperties)) out[k] = v;
    else dropped.push(at);
  }
  for (const r of schema.required ?? []) if (out[r] === undefined) errs.push({ type: "FieldValueRequired", field: path ? `${path}.${r}` : r });
  return out;
}

/**
 * A custom object as stored: metadata, apiVersion and kind kept, the rest pruned against the version's schema.
 * `dropped` lists the unknown fields removed (what fieldValidation=Strict refuses).
 */
export function pruneCustomObject(obj: KubeObject, schema: JsonSchema | undefined): { object: KubeObject; errors: FieldError[]; dropped: string[] } {
  if (!schema) return { object: obj, errors: [], dropped: [] };
  const errors: FieldError[] = [];
  const dropped: string[] = [];
  const { apiVersion, kind, metadata, ...rest } = obj;
  const props = { ...schema, properties: { ...(schema.properties ?? {}) } };
  delete props.properties.apiVersion;
  delete props.properties.kind;
  delete props.properties.metadata;
  const pruned = pruneAndValidate(rest, props, "", errors, dropped) as Record<string, unknown>;
  return { object: { ...pruned, apiVersion, kind, metadata }, errors, dropped };
}
