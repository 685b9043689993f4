import { Command, CommanderError, Option } from "commander";
import { OUTPUT_FORMATS } from "./output.js";
import { PACKAGE_VERSION } from "./package-info.js";
import { renderError } from "./render-error.js";
import { UsageError, ExitCode } from "./errors.js";
import { registerSandbox } from "../commands/sandbox.js";
import { registerIdentity } from "../commands/identity.js";
import { registerBind } from "../commands/bind.js";
import { registerException } from "../commands/exception.js";
import { registerRender } from "../commands/render.js";

export function buildProgram(): Command {
  const program = new Command("podid")
    .description(
      "Give pods on Azure Kubernetes Service their own Azure AD (Entra ID) identity, with no secret anywhere.",
    )
    .version(PACKAGE_VERSION, "--version", "Show the version and exit.")
    .helpOption("-h, --help", "Show this help message and exit.")
    .addOption(
      new Option("-o, --output <format>", "Output format.").choices([...OUTPUT_FORMATS]).default("json"),
    )
    .option("--query <jmespath>", "JMESPath query string, applied to the result before formatting.")
    .option("--only-show-errors", "Only show errors, suppressing warnings.")
    .option("--verbose", "Increase logging verbosity.")
    .option("--debug", "Show all debug logs, with an HTTP trace (secrets redacted).")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: true })
    .exitOverride()
    // Usage errors are rendered by main() in podid's one error format, not by commander.
    .configureOutput({ outputError: () => undefined });
  registerSandbox(program);
  registerIdentity(program);
  registerBind(program);
  registerException(program);
  registerRender(program);
  return program;
}

/** Runs the CLI; usage errors from commander get the same `ERROR:` shape and exit 2. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version") {
        process.exitCode = 0;
        return;
      }
      const message = err.message.replace(/^error: /, "");
      process.exitCode = renderError(new UsageError(message, "Run the command with --help to see its arguments and examples."), {
        debug: argv.includes("--debug"),
      });
      return;
    }
    process.exitCode = renderError(err, { debug: argv.includes("--debug") });
    if (!process.exitCode) process.exitCode = ExitCode.error;
  }
}
