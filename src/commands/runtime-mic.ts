import type { Command } from "commander";
import { UsageError } from "../cli/errors.js";
import { action } from "../cli/action.js";

/** Options of `podid runtime mic` (upstream-compatible flag names); the component is in src/runtime/mic/. */
export function configureMic(cmd: Command): void {
  cmd.addHelpText("after", "\nExample:\n  podid runtime mic --help").action(
    action(async () => {
      throw new UsageError("podid runtime mic is not built yet", "See the open issue for the embedded runtime.", "NotImplemented");
    }),
  );
}
