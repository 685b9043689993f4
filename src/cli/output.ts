import { createRequire } from "node:module";
import { Chalk } from "chalk";
import { UsageError } from "../errors/index.js";
import type { OutputFormat } from "./output-formats.js";
import { Presented, PreformattedText } from "./presented.js";

// Loaded on first use: most invocations print JSON without a query, and start time matters for a CLI.
const require = createRequire(import.meta.url);
// compile (parse only) is in the package, not in its type declarations.
const jmespath = () => require("jmespath") as typeof import("jmespath") & { compile(expression: string): unknown };
const toYaml = (value: unknown): string => (require("yaml") as typeof import("yaml")).stringify(value);

function invalidQuery(query: string, err: unknown): UsageError {
  return new UsageError(`argument --query: invalid JMESPath query '${query}': ${(err as Error).message}`, "Check the expression, e.g. --query clientId or --query \"[].name\".");
}

/** Checks --query before the command runs, as az does: a typo must not come to light only after the changes are made. */
export function checkQuery(query: string | undefined): void {
  if (!query) return;
  try {
    jmespath().compile(query);
  } catch (err) {
    throw invalidQuery(query, err);
  }
}

/** Applies --query (JMESPath) as the Azure CLI does: to the result, before formatting. */
export function applyQuery(result: unknown, query: string | undefined): unknown {
  if (!query) return result;
  try {
    return jmespath().search(result, query) as unknown;
  } catch (err) {
    throw invalidQuery(query, err);
  }
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A tsv cell as az writes it: a list by its length and an object as nothing, so every row keeps its columns. */
function tsvCell(v: unknown): string {
  if (v === null || v === undefined || isObject(v)) return "";
  if (Array.isArray(v)) return String(v.length);
  return String(v);
}

/** `tsv`: values only, no headers, one line per item, so `$(podid ... -o tsv)` captures them. */
function formatTsv(result: unknown): string {
  if (result === null || result === undefined) return "";
  const list = Array.isArray(result) ? result : [result];
  return list.map((item) => (isObject(item) ? Object.values(item) : Array.isArray(item) ? item : [item]).map(tsvCell).join("\t")).join("\n");
}

/** Fields az's automatic table leaves out: long ids and types nobody reads in a table. */
const TABLE_SKIPPED = new Set(["id", "type", "etag"]);

/**
 * One table row as az makes it: an object's scalar fields (not null, not id/type/etag), a list's items as
 * Column1..N, anything else as Result.
 */
function tableRow(item: unknown): Map<string, unknown> {
  const row = new Map<string, unknown>();
  if (isObject(item)) {
    for (const [key, value] of Object.entries(item)) {
      if (!TABLE_SKIPPED.has(key) && value !== null && value !== undefined && isScalar(value)) row.set(key.charAt(0).toUpperCase() + key.slice(1), value);
    }
  } else if (Array.isArray(item)) {
    item.forEach((value, i) => row.set(`Column${i + 1}`, isScalar(value) ? value : JSON.stringify(value)));
  } else if (item !== undefined) {
    row.set("Result", item);
  }
  return row;
}

/** A table cell on one line: a value's own line breaks and tabs would break the columns. */
function tableCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  return String(v).replace(/\r?\n/g, "\\n").replace(/\t/g, "\\t");
}

/** `table`: a header row, a rule, one row per item; columns in the order they first appear. */
function formatTable(result: unknown, chalk: InstanceType<typeof Chalk>): string {
  if (result === null || result === undefined) return "";
  const rows = (Array.isArray(result) ? result : [result]).map(tableRow);
  const columns = [...new Set(rows.flatMap((r) => [...r.keys()]))];
  if (!columns.length) return "";
  const cells = rows.map((r) => columns.map((c) => tableCell(r.get(c))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [chalk.bold(line(columns)), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function colorJson(text: string, chalk: InstanceType<typeof Chalk>): string {
  return text.replace(
    /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
    (m, str: string | undefined, colon: string | undefined, lit: string | undefined, num: string | undefined) => {
      if (str) return colon ? chalk.cyan(str) + colon : chalk.green(str);
      if (lit) return chalk.magenta(lit);
      if (num) return chalk.yellow(num);
      return m;
    },
  );
}

function colorYaml(text: string, chalk: InstanceType<typeof Chalk>): string {
  return text.replace(/^(\s*(?:- )?)([^:\n]+)(:)/gm, (_m, lead: string, key: string, colon: string) => lead + chalk.cyan(key) + colon);
}

export interface FormatOptions {
  format: OutputFormat;
  query?: string;
  /** Whether -o was given; without it a result with a text view prints that. */
  outputGiven?: boolean;
  /** Colour is used only when the caller says the stream is a TTY and NO_COLOR is unset. */
  color: boolean;
}

/** Turns a command's result into the text to print (without trailing newline); "" prints nothing. */
export function formatResult(result: unknown, options: FormatOptions): string {
  if (result instanceof PreformattedText) return result.text.trimEnd();
  const chalk = new Chalk({ level: options.color ? 1 : 0 });
  if (result instanceof Presented) {
    const { views } = result as Presented<unknown>;
    if (!options.query && options.format !== "none") {
      if (views.text && !options.outputGiven) return views.text(result.result, options.color).trimEnd();
      if (views.yaml && options.format === "yaml") return views.yaml(result.result).trimEnd();
      if (views.table && options.format === "table") return formatTable(views.table(result.result), chalk);
    }
    return formatResult(result.result, options);
  }
  const value = applyQuery(result, options.query);
  switch (options.format) {
    case "none":
      return "";
    case "json":
      return value === undefined ? "" : JSON.stringify(value, null, 2);
    case "jsonc":
      return value === undefined ? "" : colorJson(JSON.stringify(value, null, 2), chalk);
    case "yaml":
      return value === undefined ? "" : toYaml(value).trimEnd();
    case "yamlc":
      return value === undefined ? "" : colorYaml(toYaml(value).trimEnd(), chalk);
    case "tsv":
      return formatTsv(value);
    case "table":
      return formatTable(value, chalk);
  }
}
