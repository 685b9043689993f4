import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CLI } from "../helpers/cli.js";
import { median, timeRuns, type Figure } from "./stats.js";

const run = promisify(execFile);

/** CLI cold start (`podid --help`), against a bare `node -e ""` start as the floor. */
export async function benchCliStart(runs = 10): Promise<Figure[]> {
  const bare = await timeRuns(runs, async () => void (await run(process.execPath, ["-e", ""])));
  const help = await timeRuns(runs, async () => void (await run(process.execPath, [CLI, "--help"])));
  return [{ name: "CLI cold start (podid --help)", unit: "ms", value: median(help), runs, baseline: { name: "node -e ''", value: median(bare) } }];
}
