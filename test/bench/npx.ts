import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { REPO_ROOT } from "../helpers/cli.js";
import { wallAndPeak } from "./cli-start.js";
import { measureOk, paired } from "./process.js";
import type { Figure } from "./stats.js";

const run = promisify(execFile);

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
    await run("mkdir", [project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "bench-project", version: "1.0.0", private: true }));
    await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball], { cwd: project, maxBuffer: 1 << 24 });
    const npx = await paired(runs, () => measureOk("npx", ["--offline", "--no-install", "podid", "--version"], { cwd: project }));
    const bin = await paired(runs, () => measureOk(process.execPath, [join(project, "node_modules", "podid", "bin", "podid.js"), "--version"], { cwd: project }));
    return [...wallAndPeak("npx podid --version (installed package)", runs, npx), ...wallAndPeak("node <installed bin> --version", runs, bin)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
