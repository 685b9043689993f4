import { createHash } from "node:crypto";
import type { ResourceRegistry } from "./registry/resources.js";
import type { JsonSchema } from "./crd.js";
import type { ResourceType } from "./registry/resources.js";
import { SERVER_VERSION } from "./discovery.js";

/**
 * OpenAPI, as much as kubectl needs to apply and get without --validate=false:
 * - v3: a root listing each group-version and one document per group-version whose PATCH operations declare the
 *   `fieldValidation` parameter, so kubectl leaves validation to the server (as with a real 1.27+ server). The
 *   PATCH bodies do not offer strategic merge patch, so kubectl computes patches from its compiled-in types.
 * - v2: a document without definitions (JSON, or protobuf for the clients that only take that), so older kubectl
 *   falls back to client-side validation, which skips kinds it has no schema for.
 * Custom resources carry their CRD schema in v3 (kubectl explain works for them).
 */

const INFO = { title: "Kubernetes", version: SERVER_VERSION.gitVersion };

export function openApiV2Json(): Record<string, unknown> {
  return { swagger: "2.0", info: INFO, paths: {}, definitions: {} };
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(payload.length)]), payload]);
}

/** gnostic openapi_v2.Document { swagger = 1; info = 2 { title = 1; version = 2 } }, protobuf-encoded. */
export function openApiV2Protobuf(): Buffer {
  const info = Buffer.concat([lengthDelimited(1, Buffer.from(INFO.title)), lengthDelimited(2, Buffer.from(INFO.version))]);
  return Buffer.concat([lengthDelimited(1, Buffer.from("2.0")), lengthDelimited(2, info)]);
}

function prefix(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** The definition name kube-apiserver gives a kind: its Go package for built-ins, the reversed group for custom ones. */
export function schemaName(t: ResourceType): string {
  if (t.crdName) return `${t.group.split(".").reverse().join(".")}.${t.version}.${t.kind}`;
  const pkg = t.group === "apiextensions.k8s.io" ? "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions" : `io.k8s.api.${t.group ? t.group.split(".")[0] : "core"}`;
  return `${pkg}.${t.version}.${t.kind}`;
}

const QUERY = (name: string, type: string) => ({ name, in: "query", schema: { type, uniqueItems: true } });

function patchOperation(t: ResourceType): Record<string, unknown> {
  const body = { schema: { type: "object" } };
  return {
    operationId: `patch${t.kind}`,
    "x-kubernetes-action": "patch",
    "x-kubernetes-group-version-kind": { group: t.group, version: t.version, kind: t.kind },
    parameters: [QUERY("dryRun", "string"), QUERY("fieldManager", "string"), QUERY("fieldValidation", "string"), QUERY("force", "boolean")],
    requestBody: {
      required: true,
      content: { "application/apply-patch+yaml": body, "application/json-patch+json": body, "application/merge-patch+json": body },
    },
    responses: { "200": { description: "OK", content: { "application/json": { schema: { $ref: `#/components/schemas/${schemaName(t)}` } } } } },
  };
}

export function openApiV3Root(registry: ResourceRegistry): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const g of registry.groups()) {
    for (const v of g.versions) {
      const doc = JSON.stringify(openApiV3Document(registry, g.name, v, () => undefined));
      const hash = createHash("sha512").update(doc).digest("hex").slice(0, 128).toUpperCase();
      paths[prefix(g.name, v)] = { serverRelativeURL: `/openapi/v3/${prefix(g.name, v)}?hash=${hash}` };
    }
  }
  return { paths };
}

/** One group-version's document; `schemaFor` gives a custom resource's CRD schema. */
export function openApiV3Document(
  registry: ResourceRegistry,
  group: string,
  version: string,
  schemaFor: (t: ResourceType) => JsonSchema | undefined,
): Record<string, unknown> | undefined {
  const types = registry.inGroupVersion(group, version);
  if (!types.length) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const t of types) {
    const base = `/${prefix(group, version)}/${t.namespaced ? "namespaces/{namespace}/" : ""}${t.plural}/{name}`;
    paths[base] = { patch: patchOperation(t) };
    schemas[schemaName(t)] = {
      type: "object",
      ...(schemaFor(t) ?? { "x-kubernetes-preserve-unknown-fields": true }),
      "x-kubernetes-group-version-kind": [{ group: t.group, version: t.version, kind: t.kind }],
    };
  }
  return { openapi: "3.0.0", info: INFO, paths, components: { schemas } };
}
