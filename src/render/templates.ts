import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { PACKAGE_ROOT } from "../util/package-info.js";

export const TEMPLATES_DIR = join(PACKAGE_ROOT, "templates");

/** Reads a one-document template as plain data; callers set values on the data, never in the text. */
export function loadTemplate<T>(relativePath: string): T {
  return parse(readFileSync(join(TEMPLATES_DIR, relativePath), "utf8")) as T;
}

/** Reads a multi-document template (e.g. several manifests) as a list of plain objects. */
export function loadTemplates<T>(relativePath: string): T[] {
  return parseAllDocuments(readFileSync(join(TEMPLATES_DIR, relativePath), "utf8"))
    .map((doc) => doc.toJS() as T)
    .filter((doc) => doc !== null && doc !== undefined);
}

/** Serialises objects as a YAML stream that `kubectl apply -f -` accepts. */
export function toYamlStream(objects: unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}
