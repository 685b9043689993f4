// Apart from output.ts (chalk, the formatters): command definitions import `present` for their actions, and a
// command's --help should not load what prints a result.

/** Text a command has already formatted: printed as is, whatever -o says. */
export class PreformattedText {
  constructor(readonly text: string) {}
}

/**
 * Other ways to print a command's result, each used only where the result itself would be (no --query: a query
 * is asked of the result, and its answer is printed as is, as the Azure CLI does).
 */
export interface Views<T> {
  /** `-o table`: the rows people look for (az's table transformer), e.g. a write command's steps. */
  table?: (result: T) => unknown;
  /** `-o yaml`: text that is already YAML (a manifest stream) rather than the result as YAML. */
  yaml?: (result: T) => string;
  /** No -o given: text for people (doctor's report, render's manifests) instead of JSON. */
  text?: (result: T, color: boolean) => string;
}

/** A command's result with its views. */
export class Presented<T = unknown> {
  constructor(
    readonly result: T,
    readonly views: Views<T>,
  ) {}
}

export function present<T>(result: T, views: Views<T>): Presented<T> {
  return new Presented(result, views);
}
