import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { REPO_ROOT } from "../helpers/cli.js";
import { wallAndPeak } from "./cli-start.js";
import { measureOk, pairedRounds, type ProcessSample } from "./process.js";
import { pairedFigure, type Figure } from "./stats.js";

const run = promisify(execFile);

interface LockEntry {
  version?: string;
  resolved?: string;
  dev?: boolean;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** A package whose bin does nothing but print a version: what `npx` costs with nothing of podid in it. */
const EMPTY_BIN = { name: "npx-empty-bin", version: "1.0.0" };

interface Packed {
  name: string;
  version: string;
  tarball: string;
  dependencies?: Record<string, string>;
  bin: Record<string, string>;
}

/**
 * A project that depends on the packed tarballs, with a lockfile made from podid's own (its production entries):
 * `npm ci --offline` then installs them from npm's cache alone, as `npm install` of the packages would lay them out.
 */
function writeProject(project: string, packages: Packed[]): void {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const dependencies = Object.fromEntries(packages.map((p) => [p.name, `file:${p.tarball}`]));
  const entries: Record<string, LockEntry> = { "": { name: "bench-project", version: "1.0.0", dependencies } };
  for (const p of packages) {
    entries[`node_modules/${p.name}`] = { version: p.version, resolved: `file:${p.tarball}`, dependencies: p.dependencies, bin: p.bin, engines: { node: ">=20" } };
  }
  for (const [path, entry] of Object.entries(lock.packages)) if (path && !entry.dev) entries[path] = entry;
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "bench-project", version: "1.0.0", private: true, dependencies }));
  writeFileSync(join(project, "package-lock.json"), JSON.stringify({ name: "bench-project", version: "1.0.0", lockfileVersion: 3, requires: true, packages: entries }));
}

async function pack(dir: string, into: string): Promise<string> {
  const packed = await run("npm", ["pack", "--silent", "--pack-destination", into], { cwd: dir, maxBuffer: 1 << 24 });
  return join(into, packed.stdout.trim().split("\n").at(-1)!);
}

async function packEmptyBin(dir: string): Promise<Packed> {
  const src = join(dir, EMPTY_BIN.name);
  mkdirSync(src);
  const bin = { [EMPTY_BIN.name]: "bin.js" };
  writeFileSync(join(src, "package.json"), JSON.stringify({ ...EMPTY_BIN, bin }));
  writeFileSync(join(src, "bin.js"), `#!/usr/bin/env node\nconsole.log(${JSON.stringify(EMPTY_BIN.version)});\n`, { mode: 0o755 });
  return { ...EMPTY_BIN, bin, tarball: await pack(src, dir) };
}

/**
 * The package as a user gets it: `npm pack`, installed from the tarball into an empty project with no network
 * (its dependencies from npm's cache), then `npx podid --version` there; beside it in every round: the installed bin
 * alone, npm printing its own version, `npx` of a bin that does nothing (npm's floor for any package), and
 * `npx podid --version` in the checkout, as README's sandbox commands run it.
 */
export async function benchNpx(runs = 10): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), "podid-bench-npx-"));
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as Omit<Packed, "tarball">;
    const podid: Packed = { name: pkg.name, version: pkg.version, dependencies: pkg.dependencies, bin: pkg.bin, tarball: await pack(REPO_ROOT, dir) };
    const project = join(dir, "project");
    mkdirSync(project);
    writeProject(project, [podid, await packEmptyBin(dir)]);
    await run("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: project, maxBuffer: 1 << 24 });
    const inProject = { cwd: project };
    const checkout = () => measureOk("npx", ["--offline", "podid", "--version"], { cwd: REPO_ROOT });
    // The checkout's first `npx podid` links it into npm's npx cache; the rounds measure what every later call costs.
    await checkout();
    const r = await pairedRounds(runs, {
      npm: () => measureOk("npx", ["--version"], inProject),
      emptyBin: () => measureOk("npx", ["--offline", "--no-install", EMPTY_BIN.name, "--version"], inProject),
      npx: () => measureOk("npx", ["--offline", "--no-install", "podid", "--version"], inProject),
      bin: () => measureOk(process.execPath, [join(project, "node_modules", ".bin", "podid"), "--version"], inProject),
      checkout,
    });
    const vsFloor = (name: string, subject: ProcessSample[]) => wallAndPeak(name, { subject, floor: r.floor });
    const wall = (s: ProcessSample[]) => s.map((x) => x.wallMs);
    return [
      ...vsFloor("npx podid --version (installed package)", r.npx),
      ...vsFloor("node_modules/.bin/podid --version", r.bin),
      ...vsFloor("npx --version (npm alone)", r.npm),
      ...vsFloor(`npx ${EMPTY_BIN.name} (a bin that does nothing)`, r.emptyBin),
      pairedFigure("npx podid --version against npx of a bin that does nothing (wall)", "ms", wall(r.npx), { name: `npx ${EMPTY_BIN.name}`, values: wall(r.emptyBin) }),
      ...vsFloor("npx podid --version in the checkout (README's sandbox commands)", r.checkout),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
