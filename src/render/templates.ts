import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../util/package-info.js";

// Loaded on first use: commands that only name their defaults (install's help) do not pay for the YAML parser.
const require = createRequire(import.meta.url);
const yaml = () => require("yaml") as typeof import("yaml");

export const TEMPLATES_DIR = join(PACKAGE_ROOT, "templates");

/** Reads a one-document template as plain data; callers set values on the data, never in the text. */
export function loadTemplate<T>(relativePath: string): T {
  return yaml().parse(readFileSync(join(TEMPLATES_DIR, relativePath), "utf8")) as T;
}

/** Reads a multi-document template (e.g. several manifests) as a list of plain objects. */
export function loadTemplates<T>(relativePath: string): T[] {
  return yaml().parseAllDocuments(readFileSync(join(TEMPLATES_DIR, relativePath), "utf8"))
    .map((doc) => doc.toJS() as T)
    .filter((doc) => doc !== null && doc !== undefined);
}

/** Serialises objects as a YAML stream that `kubectl apply -f -` accepts. */
export function toYamlStream(objects: unknown[]): string {
  return objects.map((o) => yaml().stringify(o, { lineWidth: 0 })).join("---\n");
}
