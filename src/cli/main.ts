import { Command, CommanderError, Help, Option } from "commander";
import { OUTPUT_FORMATS } from "./output-formats.js";
import { PACKAGE_VERSION } from "../util/package-info.js";
import { UsageError, ExitCode } from "../errors/index.js";

/**
 * Command groups, loaded only when invoked: the Azure and Kubernetes SDKs take a second to load, and
 * `podid --help` or `podid sandbox status` should not pay for them.
 */
const GROUPS: { name: string; description: string; load: () => Promise<(group: Command) => void> }[] = [
  { name: "install", description: "Install CRDs, RBAC, MIC and NMI into the cluster, and grant the kubelet identity its roles.", load: async () => (await import("../commands/install.js")).configureInstall },
  { name: "uninstall", description: "Remove everything podid install put into the cluster.", load: async () => (await import("../commands/install.js")).configureUninstall },
  { name: "identity", description: "Manage the Azure identities pods use: the user-assigned identity, its roles and its AzureIdentity.", load: async () => (await import("../commands/identity.js")).configureIdentity },
  { name: "bind", description: "Bind pods labelled aadpodidbinding=<selector> to an AzureIdentity, and label workloads.", load: async () => (await import("../commands/bind.js")).configureBind },
  { name: "unbind", description: "Delete an identity's bindings, and take podid's aadpodidbinding label off workloads.", load: async () => (await import("../commands/bind.js")).configureUnbind },
  { name: "exception", description: "Pods that bypass NMI's identity checks (AzurePodIdentityException), e.g. cluster add-ons.", load: async () => (await import("../commands/exception.js")).configureException },
  { name: "doctor", description: "Find what is wrong with pod identity in the cluster and in Azure, and say how to fix it (only reads).", load: async () => (await import("../commands/doctor.js")).configureDoctor },
  { name: "migrate", description: "Move workloads from pod identity to Microsoft Entra Workload Identity with no downtime: plan, apply, status, finish, rollback.", load: async () => (await import("../commands/migrate.js")).configureMigrate },
  { name: "render", description: "Print the manifests podid would apply, touching neither Azure nor the cluster (for review and GitOps).", load: async () => (await import("../commands/render.js")).configureRender },
  { name: "runtime", description: "The in-cluster components (what the runtime and demo images run): MIC, NMI and the demo workload.", load: async () => (await import("../commands/runtime.js")).configureRuntime },
  { name: "demo", description: "Run the standard walkthrough end to end on a sandbox: install, identity add, bind, a demo pod that gets a token and uses it.", load: async () => (await import("../commands/demo.js")).configureDemo },
  { name: "sandbox", description: "A local Azure (ARM, Entra ID, IMDS) and Kubernetes API for trying podid and for its tests.", load: async () => (await import("../commands/sandbox.js")).configureSandbox },
];

/** The group named by the first argument that is not an option, if any. */
function invokedGroup(argv: string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-o" || a === "--output" || a === "--query") i++;
    else if (!a.startsWith("-")) return a === "help" ? args[i + 1] : a;
  }
  return undefined;
}

export async function buildProgram(argv: string[] = []): Promise<Command> {
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
    .configureHelp({
      showGlobalOptions: true,
      sortSubcommands: true,
      // A command's own options first, then the Azure and Kubernetes ones (grouped as az groups its arguments).
      groupItems<T extends Command | Option>(this: Help, unsorted: T[], visible: T[], getGroup: (item: T) => string): Map<string, T[]> {
        const groups = Help.prototype.groupItems.call(this, unsorted, visible, getGroup as (item: Command | Option) => string) as Map<string, T[]>;
        const own = groups.get("Options:");
        return own ? new Map([["Options:", own], ...[...groups].filter(([heading]) => heading !== "Options:")]) : groups;
      },
    })
    .exitOverride()
    // Usage errors are rendered by main() in podid's one error format, not by commander.
    .configureOutput({ outputError: () => undefined });
  const wanted = invokedGroup(argv);
  for (const group of GROUPS) {
    const cmd = program.command(group.name).description(group.description);
    if (group.name === wanted) (await group.load())(cmd);
  }
  return program;
}

/** Runs the CLI; usage errors from commander get the same `ERROR:` shape and exit 2. */
export async function main(argv: string[]): Promise<void> {
  // A reader that went away (`podid ... | head`) is not an error: stop quietly, as Unix tools do. A command that
  // cleans up when interrupted (the demo stops the sandbox it started) is interrupted, and writes nothing more.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    if (process.listenerCount("SIGTERM") > 0) process.kill(process.pid, "SIGTERM");
    else process.exit(process.exitCode ?? 0);
  });
  // Nobody reads the progress and logs any more (`2>&1 | head`): the command goes on, silently there.
  process.stderr.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.stderr.write = (() => true) as typeof process.stderr.write;
  });
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError && (err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version")) {
      process.exitCode = 0;
      return;
    }
    // Loaded for an error only (it brings chalk): --help and --version do without it.
    const { renderError } = await import("./render-error.js");
    if (err instanceof CommanderError) {
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
