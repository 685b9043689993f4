import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (holds package.json, bin/, templates/), from dist/util or src/util alike. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }
).version;

/** The CLI entry point, for commands that start podid in another process (the sandbox daemon). */
export const CLI_ENTRY = join(PACKAGE_ROOT, "bin", "podid.js");
