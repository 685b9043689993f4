import { createRequire } from "node:module";
import { Chalk } from "chalk";
import { UsageError } from "../errors/index.js";

// Loaded on first use: most invocations print JSON without a query, and start time matters for a CLI.
const require = createRequire(import.meta.url);
const jmespath = () => require("jmespath") as typeof import("jmespath");
const toYaml = (value: unknown): string => (require("yaml") as typeof import("yaml")).stringify(value);

export const OUTPUT_FORMATS = ["json", "jsonc", "yaml", "yamlc", "table", "tsv", "none"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: string): OutputFormat {
  const v = value.toLowerCase();
  if ((OUTPUT_FORMATS as readonly string[]).includes(v)) return v as OutputFormat;
  throw new UsageError(
    `argument --output/-o: invalid choice: '${value}'`,
    `Choose one of: ${OUTPUT_FORMATS.join(", ")}.`,
  );
}

/** Applies --query (JMESPath) as the Azure CLI does: to the result, before formatting. */
export function applyQuery(result: unknown, query: string | undefined): unknown {
  if (!query) return result;
  try {
    return jmespath().search(result, query) as unknown;
  } catch (err) {
    throw new UsageError(
      `argument --query: invalid JMESPath query '${query}': ${(err as Error).message}`,
      "Check the expression, e.g. --query clientId or --query \"[].name\".",
    );
  }
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

function scalarText(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function rows(result: unknown): Record<string, unknown>[] | undefined {
  const list = Array.isArray(result) ? result : [result];
  if (!list.every((r) => r && typeof r === "object" && !Array.isArray(r))) return undefined;
  return list as Record<string, unknown>[];
}

/** `tsv`: values only, no headers, so `$(podid ... -o tsv)` captures them. */
function formatTsv(result: unknown): string {
  if (result === null || result === undefined) return "";
  if (isScalar(result)) return scalarText(result);
  const list = Array.isArray(result) ? result : [result];
  return list
    .map((item) => {
      if (isScalar(item)) return scalarText(item);
      if (Array.isArray(item)) return item.map(scalarText).join("\t");
      return Object.values(item as Record<string, unknown>)
        .filter((v) => isScalar(v))
        .map(scalarText)
        .join("\t");
    })
    .join("\n");
}

function headerName(key: string): string {
  return key.charAt(0).toUpperCase() + key.slice(1);
}

/** `table`: the scalar top-level fields of each object as columns. */
function formatTable(result: unknown, chalk: InstanceType<typeof Chalk>): string {
  if (result === null || result === undefined) return "";
  const objects = rows(result);
  if (!objects) {
    const list = Array.isArray(result) ? result : [result];
    return ["Result", "--------", ...list.map(scalarText)].join("\n");
  }
  if (objects.length === 0) return "";
  const columns = [...new Set(objects.flatMap((o) => Object.keys(o).filter((k) => isScalar(o[k]))))];
  const cells = objects.map((o) => columns.map((c) => scalarText(o[c])));
  const widths = columns.map((c, i) => Math.max(headerName(c).length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [
    chalk.bold(line(columns.map(headerName))),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
  ].join("\n");
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

/** Text a command has already formatted (a YAML manifest stream): printed as is, whatever -o says. */
export class PreformattedText {
  constructor(readonly text: string) {}
}

export interface FormatOptions {
  format: OutputFormat;
  query?: string;
  /** Colour is used only when the caller says the stream is a TTY and NO_COLOR is unset. */
  color: boolean;
}

/** Turns a command's result into the text to print (without trailing newline); "" prints nothing. */
export function formatResult(result: unknown, options: FormatOptions): string {
  if (result instanceof PreformattedText) return result.text.trimEnd();
  const value = applyQuery(result, options.query);
  const chalk = new Chalk({ level: options.color ? 1 : 0 });
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
