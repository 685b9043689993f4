import { CLI } from "../helpers/cli.js";
import { measureOk, NODE_FLOOR, paired, PEAK_RSS_SOURCE, type ProcessSample } from "./process.js";
import { median, type Figure } from "./stats.js";

/**
 * One subcommand's help per command group: what a user waits on when they ask how a command is used. (The
 * top-level `podid --help` loads no group, so it says nothing about them.)
 */
export const HELP_COMMANDS: string[][] = [
  ["install"],
  ["uninstall"],
  ["identity", "add"],
  ["bind"],
  ["unbind"],
  ["exception", "add"],
  ["doctor"],
  ["migrate", "plan"],
  ["render", "identity"],
  ["runtime", "mic"],
  ["demo"],
  ["sandbox", "start"],
];

/** Wall time and peak memory of `runs` paired runs, each beside `node -e 0`'s. */
export function wallAndPeak(name: string, runs: number, r: { subject: ProcessSample[]; floor: ProcessSample[] }): Figure[] {
  return [
    { name: `${name} (wall)`, unit: "ms", value: median(r.subject.map((s) => s.wallMs)), runs, baseline: { name: NODE_FLOOR.name, value: median(r.floor.map((s) => s.wallMs)) } },
    { name: `${name} (peak RSS)`, unit: "MiB", value: median(r.subject.map((s) => s.peakMiB)), runs, baseline: { name: NODE_FLOOR.name, value: median(r.floor.map((s) => s.peakMiB)) } },
  ];
}

/** `podid <group> <command> --help` for every group, against Node starting and doing nothing. */
export async function benchCliStart(runs = 10): Promise<Figure[]> {
  process.stderr.write(`bench: peak memory from ${PEAK_RSS_SOURCE}\n`);
  const figures: Figure[] = [];
  for (const command of HELP_COMMANDS) {
    const r = await paired(runs, () => measureOk(process.execPath, [CLI, ...command, "--help"]));
    figures.push(...wallAndPeak(`podid ${command.join(" ")} --help`, runs, r));
  }
  return figures;
}
