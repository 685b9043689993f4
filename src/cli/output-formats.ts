import { UsageError } from "../errors/index.js";

// Apart from output.ts (chalk, the formatters): the CLI's entry declares -o with these before any command runs.
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
