import { runPodid } from "../helpers/cli.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { sandboxClients, startSandbox } from "../helpers/sandbox-env.js";
import { median, timeRuns, type Figure } from "./stats.js";

/** `podid identity add` on the sandbox, as a user runs it: a new identity, and the same command re-run. */
export async function benchIdentityAdd(runs = 5): Promise<Figure[]> {
  const sb = await startSandbox();
  try {
    await applyShippedCrds(sandboxClients(sb).kc);
    const args = (name: string) => [
      "identity", "add", "-n", name, "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName,
      "--role", "Reader", "--namespace", "default", "--binding-selector", name,
    ];
    let i = 0;
    const create = await timeRuns(runs, async () => {
      const r = await runPodid(args(`bench-id-${i++}`), { env: sb.env });
      if (r.code !== 0) throw new Error(r.stderr);
    });
    const rerun = await timeRuns(runs, async () => {
      const r = await runPodid(args("bench-id-0"), { env: sb.env });
      if (r.code !== 0) throw new Error(r.stderr);
    });
    return [
      { name: "identity add, new identity (wall)", unit: "ms", value: median(create), runs },
      { name: "identity add, re-run, all unchanged (wall)", unit: "ms", value: median(rerun), runs },
    ];
  } finally {
    await sb.stop();
  }
}
