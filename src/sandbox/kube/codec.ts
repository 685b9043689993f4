import YAML from "yaml";
import { Errors, KubeError, type Status } from "./errors.js";
import type { PatchType } from "./registry/requests.js";
import type { SandboxRequest, SandboxResponse } from "../http/types.js";

/** Media types in and out: request bodies (JSON, YAML, the patch types), Status responses, Accept parameters. */

const JSON_TYPE = "application/json";

export function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0].trim().toLowerCase();
}

export function jsonResponse(status: number, body: unknown, contentType = JSON_TYPE): SandboxResponse {
  return { status, headers: { "content-type": contentType, "cache-control": "no-cache, private" }, body: JSON.stringify(body) };
}

export function statusResponse(status: Status): SandboxResponse {
  return jsonResponse(status.code, status);
}

/** Any thrown error as the Status the client gets; unexpected ones become 500 InternalError. */
export function errorResponse(err: unknown): SandboxResponse {
  if (err instanceof KubeError) return statusResponse(err.status);
  return statusResponse(Errors.internal(err instanceof Error ? err.message : String(err)).status);
}

function firstLine(message: string): string {
  return message.split("\n")[0];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw Errors.badRequest(`couldn't get version/kind; json parse error: ${firstLine((err as Error).message)}`);
  }
}

function parseYaml(text: string): unknown {
  try {
    const docs = YAML.parseAllDocuments(text);
    if (docs.length > 1) throw new Error("the body contains more than one YAML document");
    const doc = docs[0];
    if (!doc) return {};
    if (doc.errors.length) throw doc.errors[0];
    return doc.toJS();
  } catch (err) {
    if (err instanceof KubeError) throw err;
    throw Errors.badRequest(`error converting YAML to JSON: yaml: ${firstLine((err as Error).message)}`);
  }
}

const OBJECT_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

/** A create/update body: JSON (or YAML, as kube-apiserver also accepts). */
export function decodeObject(req: SandboxRequest): unknown {
  const type = mediaType(req.headers["content-type"]) || JSON_TYPE;
  const text = req.body.toString("utf8");
  if (type === JSON_TYPE || type === "*/*") return parseJson(text);
  if (type === "application/yaml") return parseYaml(text);
  throw Errors.unsupportedMediaType(type, OBJECT_TYPES);
}

const PATCH_TYPES: Record<string, PatchType> = {
  "application/json-patch+json": "json",
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
  "application/apply-patch+cbor": "apply",
};

export function patchTypes(strategic: boolean): string[] {
  return ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml", ...(strategic ? ["application/strategic-merge-patch+json"] : [])];
}

/** A PATCH body and its type. Apply bodies are YAML, of which client-node's JSON is a subset. */
export function decodePatch(req: SandboxRequest, strategicAllowed: boolean): { type: PatchType; patch: unknown } {
  const media = mediaType(req.headers["content-type"]);
  const type = PATCH_TYPES[media];
  if (!type || (type === "strategic" && !strategicAllowed)) throw Errors.unsupportedMediaType(media, patchTypes(strategicAllowed));
  const text = req.body.toString("utf8");
  if (type === "apply") return { type, patch: parseYaml(text) };
  try {
    return { type, patch: JSON.parse(text) };
  } catch (err) {
    throw Errors.badRequest(`error decoding patch: ${firstLine((err as Error).message)}`);
  }
}

/** The parameters of each media range in an Accept header (`application/json;as=Table;g=meta.k8s.io`). */
export function acceptParameters(accept: string | undefined): Map<string, string>[] {
  return (accept ?? "").split(",").map(
    (part) =>
      new Map(
        part
          .split(";")
          .slice(1)
          .map((p) => p.trim().split("=") as [string, string]),
      ),
  );
}

/** The `as=Table` / `as=PartialObjectMetadata(List)` conversion an Accept header asks for, if any. */
export function acceptedConversion(accept: string | undefined): "Table" | "PartialObjectMetadata" | undefined {
  for (const params of acceptParameters(accept)) {
    if (params.get("g") !== "meta.k8s.io") continue;
    const as = params.get("as");
    if (as === "Table") return "Table";
    if (as === "PartialObjectMetadata" || as === "PartialObjectMetadataList") return "PartialObjectMetadata";
  }
  return undefined;
}
