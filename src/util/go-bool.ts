/**
 * Go's strconv.ParseBool, which Go's flag and pflag packages (upstream's MIC and NMI) use for a boolean flag's value:
 * exactly these spellings, undefined for anything else.
 */
const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

export function parseGoBool(text: string): boolean | undefined {
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return undefined;
}
