import { test } from "node:test";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { applyQuery, formatResult, parseOutputFormat } from "../../src/cli/output.js";
import { UsageError } from "../../src/errors/index.js";

const identity = { name: "app-id", clientId: "c1", principalId: "p1", tags: { a: "b" } };

test("json is indented JSON of the whole result", () => {
  assert.deepEqual(JSON.parse(formatResult(identity, { format: "json", color: false })), identity);
});

test("yaml round-trips", () => {
  assert.deepEqual(parseYaml(formatResult([identity], { format: "yaml", color: false })), [identity]);
});

test("tsv prints scalar values only, one line per item, no headers", () => {
  assert.equal(formatResult([identity, { ...identity, name: "other" }], { format: "tsv", color: false }), "app-id\tc1\tp1\nother\tc1\tp1");
  assert.equal(formatResult(identity, { format: "tsv", query: "clientId", color: false }), "c1");
});

test("table has a header row, a rule and one row per object", () => {
  const lines = formatResult([identity], { format: "table", color: false }).split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^Name\s+ClientId\s+PrincipalId$/);
  assert.match(lines[2], /^app-id\s+c1\s+p1$/);
});

test("none prints nothing; colour is off unless asked", () => {
  assert.equal(formatResult(identity, { format: "none", color: false }), "");
  assert.ok(!formatResult(identity, { format: "jsonc", color: false }).includes("\u001b["));
  assert.ok(formatResult(identity, { format: "jsonc", color: true }).includes("\u001b["));
});

test("--query applies JMESPath before formatting, and a bad query is a usage error", () => {
  assert.deepEqual(applyQuery([identity, { name: "x" }], "[].name"), ["app-id", "x"]);
  assert.throws(() => applyQuery(identity, "[?"), UsageError);
});

test("an unknown output format is a usage error naming the choices", () => {
  assert.equal(parseOutputFormat("YAML"), "yaml");
  assert.throws(() => parseOutputFormat("xml"), (e: unknown) => e instanceof UsageError && /json, jsonc/.test(e.remedy ?? ""));
});
