import { test } from "node:test";
import assert from "node:assert/strict";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/main.js";

// Every command a user can run has help with at least one worked example, as the Azure CLI's do.
const GROUPS = ["install", "uninstall", "identity", "bind", "unbind", "exception", "render", "sandbox", "runtime", "demo", "doctor"];

function leaves(cmd: Command, path: string[] = []): [string[], Command][] {
  const visible = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden && c.name() !== "help");
  if (!visible.length) return [[path, cmd]];
  return visible.flatMap((c) => leaves(c, [...path, c.name()]));
}

function helpText(cmd: Command): string {
  let text = "";
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

for (const group of GROUPS) {
  test(`every '${group}' command has help with an example`, async () => {
    const program = await buildProgram(["node", "podid", group]);
    const root = program.commands.find((c) => c.name() === group)!;
    const all = leaves(root, [group]);
    assert.ok(all.length >= 1);
    for (const [path, cmd] of all) {
      const help = helpText(cmd);
      assert.match(help, /Usage: podid /, path.join(" "));
      assert.match(help, /Examples?:/, `podid ${path.join(" ")} --help shows an example`);
    }
  });
}
