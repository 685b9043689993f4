import { CLI } from "../helpers/cli.js";
import { measureOk, NODE_FLOOR, paired, PEAK_RSS_SOURCE, type ProcessSample } from "./process.js";
import { pairedFigure, type Figure } from "./stats.js";

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

/** Wall time and peak memory of paired runs, each beside the `node -e 0` run next to it. */
export function wallAndPeak(name: string, r: { subject: ProcessSample[]; floor: ProcessSample[] }): Figure[] {
  return [
    pairedFigure(`${name} (wall)`, "ms", r.subject.map((s) => s.wallMs), { name: NODE_FLOOR.name, values: r.floor.map((s) => s.wallMs) }),
    pairedFigure(`${name} (peak RSS)`, "MiB", r.subject.map((s) => s.peakMiB), { name: NODE_FLOOR.name, values: r.floor.map((s) => s.peakMiB) }),
  ];
}

/** `podid <group> <command> --help` for every group, against Node starting and doing nothing. */
export async function benchCliStart(runs = 10): Promise<Figure[]> {
  process.stderr.write(`bench: peak memory from ${PEAK_RSS_SOURCE}\n`);
  const figures: Figure[] = [];
  for (const command of HELP_COMMANDS) {
    const r = await paired(runs, () => measureOk(process.execPath, [CLI, ...command, "--help"]));
    figures.push(...wallAndPeak(`podid ${command.join(" ")} --help`, r));
  }
  return figures;
}
