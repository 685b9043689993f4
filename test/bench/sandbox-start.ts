import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { runPodid } from "../helpers/cli.js";
import { median, timeRuns, type Figure } from "./stats.js";

async function must(args: string[]): Promise<void> {
  const r = await runPodid(args);
  if (r.code !== 0) throw new Error(`podid ${args.join(" ")} failed: ${r.stderr}`);
}

/** `podid sandbox start` until ready: a new sandbox (keys and state made) and a restart of an existing one. */
export async function benchSandboxStart(runs = 5): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), "podid-bench-start-"));
  try {
    const fresh = await timeRuns(runs, async () => {
      await must(["sandbox", "start", "--dir", dir, "--fresh"]);
      await must(["sandbox", "stop", "--dir", dir]);
    });
    const restartOnly: number[] = [];
    for (let i = 0; i < runs; i++) {
      const [t] = await timeRuns(1, () => must(["sandbox", "start", "--dir", dir]));
      restartOnly.push(t);
      await must(["sandbox", "stop", "--dir", dir]);
    }
    return [
      { name: "sandbox start, new (incl. stop)", unit: "ms", value: median(fresh), runs },
      { name: "sandbox start, existing state", unit: "ms", value: median(restartOnly), runs },
    ];
  } finally {
    await runPodid(["sandbox", "stop", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}
