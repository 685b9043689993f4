// `npm run bench [suite...]`: every figure is a median over repeated runs, with its baseline measured side by side.
// Benchmarks are not tests: a suite that fails is reported and the others still run; the exit code is always 0.
import { benchCliStart } from "./cli-start.js";
import { benchCliCommands } from "./cli-commands.js";
import { benchNpx } from "./npx.js";
import { benchSandboxStart } from "./sandbox-start.js";
import { benchArmThroughput } from "./arm-rps.js";
import { benchNmi } from "./nmi.js";
import { benchMic } from "./mic.js";
import { printTable, type Figure } from "./stats.js";

// PODID_BENCH_RUNS lowers (or raises) the paired runs of the help and commands suites (default 10 each).
const cliRuns = process.env.PODID_BENCH_RUNS ? Number(process.env.PODID_BENCH_RUNS) : undefined;
if (cliRuns !== undefined && !(Number.isInteger(cliRuns) && cliRuns > 0)) throw new Error(`PODID_BENCH_RUNS must be a whole number above 0, not '${process.env.PODID_BENCH_RUNS}'`);

const suites: [string, () => Promise<Figure[]>][] = [
  ["help", () => benchCliStart(cliRuns)],
  ["commands", () => benchCliCommands(cliRuns)],
  ["npx", () => benchNpx()],
  ["sandbox", () => benchSandboxStart()],
  ["arm", () => benchArmThroughput()],
  ["nmi", () => benchNmi()],
  ["mic", () => benchMic()],
];

const only = process.argv.slice(2);
const unknown = only.filter((o) => !suites.some(([name]) => name === o));
if (unknown.length) process.stderr.write(`bench: no suite ${unknown.join(", ")} (suites: ${suites.map(([n]) => n).join(", ")})\n`);
const figures: Figure[] = [];
for (const [name, suite] of suites) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name} ...\n`);
  try {
    figures.push(...(await suite()));
  } catch (err) {
    process.stderr.write(`bench: ${name} failed: ${(err as Error).stack ?? err}\n`);
    figures.push({ name: `${name}: failed (see above)`, unit: "", value: NaN, runs: 0 });
  }
}
printTable(figures);
process.exit(0);
