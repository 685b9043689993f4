import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runPodid } from "../helpers/cli.js";

// README's command reference and the CLI's --help must agree: every command the README lists exists, and
// every option it shows for a command is one that command accepts.
const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const table = readme.slice(readme.indexOf("## Command reference"), readme.indexOf("## Exit codes"));
const rows = [...table.matchAll(/^\| `podid ([^`]+)`/gm)].map((m) => m[1]);

test("README lists the commands", () => assert.ok(rows.length >= 8));

for (const row of rows) {
  // The command is the leading lowercase words ("identity add"); "render identity|binding" is checked as "render".
  const command: string[] = [];
  for (const word of row.split(" ")) {
    if (!/^[a-z]+$/.test(word)) break;
    command.push(word);
  }
  test(`README's \`podid ${row.slice(0, 40)}...\` matches --help`, async () => {
    const help = await runPodid([...command, "--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of row.match(/--[a-z][a-z-]*/g) ?? []) assert.ok(help.stdout.includes(flag), `${command.join(" ")} --help shows ${flag}`);
  });
}
