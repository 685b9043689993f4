import { test } from "node:test";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { applyQuery, checkQuery, formatResult } from "../../src/cli/output.js";
import { parseOutputFormat } from "../../src/cli/output-formats.js";
import { present } from "../../src/cli/presented.js";
import { UsageError } from "../../src/errors/index.js";
import { writeResult } from "../../src/commands/write-result.js";

const identity = { name: "app-id", clientId: "c1", principalId: "p1", tags: { a: "b" } };

test("json is indented JSON of the whole result", () => {
  assert.deepEqual(JSON.parse(formatResult(identity, { format: "json", color: false })), identity);
});

test("yaml round-trips", () => {
  assert.deepEqual(parseYaml(formatResult([identity], { format: "yaml", color: false })), [identity]);
});

test("tsv prints values only, one line per item, no headers; as az, a list is its length and an object an empty field", () => {
  assert.equal(formatResult([identity, { ...identity, name: "other" }], { format: "tsv", color: false }), "app-id\tc1\tp1\t\nother\tc1\tp1\t");
  assert.equal(formatResult(identity, { format: "tsv", query: "clientId", color: false }), "c1");
  assert.equal(formatResult({ a: "x", list: [1, 2, 3], nothing: null, b: true }, { format: "tsv", color: false }), "x\t3\t\ttrue");
  assert.equal(formatResult([["a", 1], ["b", 2]], { format: "tsv", color: false }), "a\t1\nb\t2");
  assert.equal(formatResult([], { format: "tsv", color: false }), "");
  assert.equal(formatResult(null, { format: "tsv", color: false }), "");
});

test("table has a header row, a rule and one row per object", () => {
  const lines = formatResult([identity], { format: "table", color: false }).split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^Name\s+ClientId\s+PrincipalId$/);
  assert.match(lines[2], /^app-id\s+c1\s+p1$/);
});

test("table as az prints it: Column1..N for lists of lists, Result for scalars, no id/type/etag or nested fields", () => {
  assert.deepEqual(formatResult([["app-id", "c1"], ["other", "c2"]], { format: "table", color: false }).split("\n"), ["Column1  Column2", "-------  -------", "app-id   c1", "other    c2"]);
  assert.deepEqual(formatResult(["a", "b"], { format: "table", color: false }).split("\n"), ["Result", "------", "a", "b"]);
  assert.deepEqual(formatResult("x", { format: "table", color: false }).split("\n"), ["Result", "------", "x"]);
  const row = formatResult({ id: "/subscriptions/x/very/long", type: "Microsoft.X/y", etag: "e", name: "n", tags: { a: "b" }, gone: null }, { format: "table", color: false });
  assert.deepEqual(row.split("\n"), ["Name", "----", "n"]);
  assert.equal(formatResult([], { format: "table", color: false }), "");
  assert.equal(formatResult({ nested: { only: 1 } }, { format: "table", color: false }), "");
});

test("a table cell stays on one line, however long or odd its value", () => {
  const long = "x".repeat(500);
  const lines = formatResult([{ name: "a\nb\tc", value: long }], { format: "table", color: false }).split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[2], `a\\nb\\tc  ${long}`);
});

test("a command's views: its table without --query, its text without -o, its YAML for -o yaml; --query always asks the result", () => {
  const result = present({ steps: [{ step: "s1", outcome: "created" }], dryRun: false }, { table: (r) => r.steps, text: () => "for people\n", yaml: () => "kind: X\n" });
  assert.equal(formatResult(result, { format: "json", color: false, outputGiven: false }), "for people");
  assert.deepEqual(JSON.parse(formatResult(result, { format: "json", color: false, outputGiven: true })), result.result);
  assert.deepEqual(formatResult(result, { format: "table", color: false, outputGiven: true }).split("\n"), ["Step  Outcome", "----  -------", "s1    created"]);
  assert.equal(formatResult(result, { format: "yaml", color: false, outputGiven: true }), "kind: X");
  assert.equal(formatResult(result, { format: "table", query: "dryRun", color: false, outputGiven: true }), "Result\n------\nfalse");
  assert.equal(formatResult(result, { format: "tsv", query: "steps[].step", color: false, outputGiven: true }), "s1");
  assert.equal(formatResult(result, { format: "json", query: "dryRun", color: false, outputGiven: false }), "false");
  assert.equal(formatResult(result, { format: "none", color: false, outputGiven: true }), "");
});

test("none prints nothing; colour is off unless asked", () => {
  assert.equal(formatResult(identity, { format: "none", color: false }), "");
  assert.ok(!formatResult(identity, { format: "jsonc", color: false }).includes("\u001b["));
  assert.ok(formatResult(identity, { format: "jsonc", color: true }).includes("\u001b["));
});

test("--query applies JMESPath before formatting, and a bad query is a usage error", () => {
  assert.deepEqual(applyQuery([identity, { name: "x" }], "[].name"), ["app-id", "x"]);
  assert.throws(() => applyQuery(identity, "[?"), UsageError);
  // Checked before the command runs: a query that only fails on the result's shape is not refused then.
  assert.throws(() => checkQuery("steps[?"), UsageError);
  assert.doesNotThrow(() => checkQuery("length(@)"));
  assert.doesNotThrow(() => checkQuery(undefined));
});

test("an unknown output format is a usage error naming the choices", () => {
  assert.equal(parseOutputFormat("YAML"), "yaml");
  assert.throws(() => parseOutputFormat("xml"), (e: unknown) => e instanceof UsageError && /json, jsonc/.test(e.remedy ?? ""));
});

test("a write command's table is its steps; a dry run's YAML is the manifests it would apply, or the plan when it only deletes", () => {
  const object = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "default" } };
  const apply = writeResult({ steps: [{ step: "ConfigMap default/x", target: "cluster" as const, action: "create" as const, detail: { object } }], dryRun: true });
  assert.deepEqual(formatResult(apply, { format: "table", color: false, outputGiven: true }).split("\n"), ["Action  Target   Step", "------  -------  -------------------", "create  cluster  ConfigMap default/x"]);
  assert.deepEqual(parseYaml(formatResult(apply, { format: "yaml", color: false, outputGiven: true })), object);
  const remove = writeResult({ steps: [{ step: "ConfigMap default/x", target: "cluster" as const, action: "delete" as const }], dryRun: true });
  assert.deepEqual(parseYaml(formatResult(remove, { format: "yaml", color: false, outputGiven: true })), remove.result);
  const done = writeResult({ steps: [{ step: "ConfigMap default/x", target: "cluster" as const, outcome: "deleted" as const }], dryRun: false });
  assert.match(formatResult(done, { format: "table", color: false, outputGiven: true }), /^Outcome +Target +Step\n-+ +-+ +-+\ndeleted +cluster +ConfigMap default\/x$/);
});
