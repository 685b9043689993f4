import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { REPO_ROOT } from "../helpers/cli.js";
import { wallAndPeak } from "./cli-start.js";
import { measureOk, paired } from "./process.js";
import type { Figure } from "./stats.js";

const run = promisify(execFile);

interface LockEntry {
  version?: string;
  resolved?: string;
  dev?: boolean;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * A project that depends on the packed tarball, with a lockfile made from podid's own (its production entries):
 * `npm ci --offline` then installs it from npm's cache alone, as `npm install` of the package would lay it out.
 */
function writeProject(project: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { name: string; version: string; dependencies: Record<string, string>; bin: Record<string, string> };
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const spec = `file:${tarball}`;
  const packages: Record<string, LockEntry> = {
    "": { name: "bench-project", version: "1.0.0", dependencies: { [pkg.name]: spec } },
    [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: spec, dependencies: pkg.dependencies, bin: pkg.bin, engines: { node: ">=20" } },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path && !entry.dev) packages[path] = entry;
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "bench-project", version: "1.0.0", private: true, dependencies: { [pkg.name]: spec } }));
  writeFileSync(join(project, "package-lock.json"), JSON.stringify({ name: "bench-project", version: "1.0.0", lockfileVersion: 3, requires: true, packages }));
}

/**
 * The package as a user gets it: `npm pack`, installed from the tarball into an empty project with no network
 * (its dependencies from npm's cache), then `npx podid --version` there, and the installed bin alone.
 */
export async function benchNpx(runs = 10): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), "podid-bench-npx-"));
  try {
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: REPO_ROOT, maxBuffer: 1 << 24 });
    const tarball = join(dir, packed.stdout.trim().split("\n").at(-1)!);
    const project = join(dir, "project");
    mkdirSync(project);
    writeProject(project, tarball);
    await run("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: project, maxBuffer: 1 << 24 });
    const npx = await paired(runs, () => measureOk("npx", ["--offline", "--no-install", "podid", "--version"], { cwd: project }));
    const bin = await paired(runs, () => measureOk(process.execPath, [join(project, "node_modules", ".bin", "podid"), "--version"], { cwd: project }));
    return [...wallAndPeak("npx podid --version (installed package)", npx), ...wallAndPeak("node_modules/.bin/podid --version", bin)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
