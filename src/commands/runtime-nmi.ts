import type { Command } from "commander";
import { UsageError } from "../cli/errors.js";
import { action } from "../cli/action.js";

/** Options of `podid runtime nmi` (upstream-compatible flag names); the component is in src/runtime/nmi/. */
export function configureNmi(cmd: Command): void {
  cmd.addHelpText("after", "\nExample:\n  podid runtime nmi --help").action(
    action(async () => {
      throw new UsageError("podid runtime nmi is not built yet", "See the open issue for the embedded runtime.", "NotImplemented");
    }),
  );
}
