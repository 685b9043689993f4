import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { REPO_ROOT } from "../helpers/cli.js";

// `--help` and usage errors load commander and small modules only: the command groups define their commands with
// static imports of light modules and import what their actions run inside them (`await import()`). This follows
// the static imports from the CLI's entry and every command module and names any heavy package they reach, and
// Node's own modules that networking or processes need (TLS brings crypto with it): none of them is needed to say how
// a command is used. Only src/ is followed: what a package imports is its own (commander requires child_process).
const HEAVY = /^(@azure\/|@kubernetes\/|@peculiar\/|yaml$|jose$|inquirer$|prom-client$|jmespath$|fast-json-patch$|reflect-metadata$|node:(child_process|https?|http2|tls|net|crypto|zlib|dns)$)/;
const SRC = join(REPO_ROOT, "src");

/** The modules and packages a source file imports statically for their values (type-only imports load nothing). */
function valueImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)([\s\S]*?)\s+from\s+"([^"]+)";|^import\s+"([^"]+)";/gm)) {
    const [, names = "", from, bare] = m;
    const named = /^\{([\s\S]*)\}$/.exec(names.trim());
    if (named && named[1].split(",").map((n) => n.trim()).filter(Boolean).every((n) => n.startsWith("type "))) continue;
    found.push(from ?? bare);
  }
  return found;
}

/** Every package reached from `entry` through static value imports, with the chain that reaches it. */
function packagesReached(entry: string): Map<string, string[]> {
  const reached = new Map<string, string[]>();
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of valueImports(file)) {
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")), [...chain, spec]);
      else if (!reached.has(spec)) reached.set(spec, [...chain, spec]);
    }
  };
  visit(entry, [entry.slice(SRC.length + 1)]);
  return reached;
}

// The command groups' definitions (what `configure*` builds); their helpers (open-kube.ts, ...) load inside actions.
const definitions = readdirSync(join(SRC, "commands"))
  .map((f) => `commands/${f}`)
  .filter((f) => /^export function configure/m.test(readFileSync(join(SRC, f), "utf8")));
const entries = ["cli/main.ts", ...definitions];
for (const entry of entries) {
  test(`${entry} loads no heavy package before an action runs`, () => {
    const heavy = [...packagesReached(join(SRC, entry))].filter(([pkg]) => HEAVY.test(pkg)).map(([, chain]) => chain.join(" -> "));
    assert.deepEqual(heavy, []);
  });
}
