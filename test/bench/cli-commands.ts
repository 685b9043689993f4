import { CLI } from "../helpers/cli.js";
import { startSandbox } from "../helpers/sandbox-env.js";
import { DEMO_IDENTITY, DEMO_SELECTOR } from "../../src/core/demo.js";
import { wallAndPeak } from "./cli-start.js";
import { measure, measureOk, paired, type ProcessSample } from "./process.js";
import { pairedFigure, type Figure } from "./stats.js";

/**
 * The everyday commands on a sandbox holding the demo's installation (`podid demo --keep`: MIC and NMI, the
 * demo identity, its binding and pods), each beside `node -e 0`; and `identity add` re-run with nothing to do,
 * beside a first run that creates the identity (the two interleaved: run i of each is a pair).
 */
export async function benchCliCommands(runs = 10): Promise<Figure[]> {
  const sb = await startSandbox();
  try {
    const podid = (args: string[]) => measure(process.execPath, [CLI, ...args, "-o", "json"], { env: sb.env });
    const ok = (args: string[]) => measureOk(process.execPath, [CLI, ...args, "-o", "json"], { env: sb.env });
    await ok(["demo", "--dir", sb.dir, "--keep"]);
    const figures: Figure[] = [];
    const commands: [string, string[]][] = [
      ["podid identity list", ["identity", "list"]],
      ["podid identity show", ["identity", "show", "-n", DEMO_IDENTITY]],
      ["podid bind (unchanged)", ["bind", "--selector", DEMO_SELECTOR, "--identity", DEMO_IDENTITY]],
    ];
    for (const [name, args] of commands) figures.push(...wallAndPeak(name, await paired(runs, () => ok(args))));
    // doctor's exit code says what it found; the figure is of a complete run either way.
    figures.push(...wallAndPeak("podid doctor -A", await paired(runs, () => doctorRun(podid))));

    const addArgs = (name: string) => ["identity", "add", "-n", name, "-g", sb.info.resourceGroup, "--cluster", sb.info.clusterName, "--role", "Reader", "--namespace", "default", "--binding-selector", name];
    const first = { subject: [] as ProcessSample[], floor: [] as ProcessSample[] };
    const rerun = { subject: [] as ProcessSample[], floor: [] as ProcessSample[] };
    for (let i = 0; i < runs; i++) {
      // Pair i: a first run creating bench-id-i, then a re-run of bench-id-0 (created by pair 0's first run).
      const f = await paired(1, () => ok(addArgs(`bench-id-${i}`)));
      const r = await paired(1, () => ok(addArgs("bench-id-0")));
      first.subject.push(...f.subject);
      first.floor.push(...f.floor);
      rerun.subject.push(...r.subject);
      rerun.floor.push(...r.floor);
    }
    figures.push(...wallAndPeak("podid identity add, first run", first));
    figures.push(...wallAndPeak("podid identity add, re-run, all unchanged", rerun));
    figures.push(pairedFigure("podid identity add, re-run vs first run (wall)", "ms", rerun.subject.map((s) => s.wallMs), { name: "first run", values: first.subject.map((s) => s.wallMs) }));
    return figures;
  } finally {
    await sb.stop();
  }
}

async function doctorRun(podid: (args: string[]) => Promise<ProcessSample>): Promise<ProcessSample> {
  const s = await podid(["doctor", "-A"]);
  if (!s.stdout.trim().startsWith("{")) throw new Error(`podid doctor -A gave no report (exit ${s.code}): ${s.stderr.slice(-800)}`);
  return s;
}
