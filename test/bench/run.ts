// `npm run bench`: every figure is a median over repeated runs, with its baseline measured side by side.
import { benchCliStart } from "./cli-start.js";
import { benchSandboxStart } from "./sandbox-start.js";
import { benchIdentityAdd } from "./identity-add.js";
import { benchArmThroughput } from "./arm-rps.js";
import { benchNmi } from "./nmi.js";
import { benchMic } from "./mic.js";
import { printTable, type Figure } from "./stats.js";

const suites: [string, () => Promise<Figure[]>][] = [
  ["cli", () => benchCliStart()],
  ["sandbox", () => benchSandboxStart()],
  ["arm", () => benchArmThroughput()],
  ["identity", () => benchIdentityAdd()],
  ["nmi", () => benchNmi()],
  ["mic", () => benchMic()],
];

const only = process.argv.slice(2);
const figures: Figure[] = [];
for (const [name, suite] of suites) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name} ...\n`);
  figures.push(...(await suite()));
}
printTable(figures);
