import { Option, type Command } from "commander";
import { UsageCode, UsageError } from "../errors/index.js";

/** Where Azure calls go: the Azure CLI's names. */
export interface AzureOptions {
  subscription?: string;
  cloud?: string;
}

/** Which cluster and namespace: kubectl's names (the namespace always spelled out: -n is the name, as in az). */
export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  yes?: boolean;
}

/** az's mark on an argument a command cannot do without (asked for on a terminal, a usage error in scripts). */
export function required(description: string): string {
  return `[Required] ${description}`;
}

export function withAzureOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--subscription <id>", "Subscription id (default: AZURE_SUBSCRIPTION_ID).").helpGroup("Azure Options:"))
    .addOption(
      new Option("--cloud <name|file>", "AzureCloud, AzureChinaCloud, AzureUSGovernment or a cloud profile file (default: PODID_CLOUD, else AzureCloud).").helpGroup("Azure Options:"),
    );
}

/** The context's namespace is the default, as for kubectl, unless the command says what else it is. */
export const CONTEXT_NAMESPACE = "the kubeconfig context's namespace, else default";

export function withKubeOptions(cmd: Command, namespace: { description?: string; default?: string } = {}): Command {
  return cmd
    .addOption(new Option("--kubeconfig <file>", "Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config).").helpGroup("Kubernetes Options:"))
    .addOption(new Option("--context <name>", "The kubeconfig context to use (default: the current context).").helpGroup("Kubernetes Options:"))
    .addOption(
      new Option("--namespace <namespace>", `${namespace.description ?? "Kubernetes namespace"} (default: ${namespace.default ?? CONTEXT_NAMESPACE}).`).helpGroup("Kubernetes Options:"),
    );
}

export function withWriteOptions(cmd: Command): Command {
  return cmd
    .option("--dry-run", "Print the plan: every Azure and cluster change, in order, without making any.")
    .option("-y, --yes", "Do not prompt; answer yes to confirmations.");
}

/** A repeatable option: each use adds a value (no default shown: none given is none). */
export function repeatable(flags: string, description: string): Option {
  return new Option(flags, `${description} Repeatable.`).argParser(collectValues);
}

/** Commander parser for a repeatable option: each use adds a value. */
export function collectValues(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The arguments the user typed (after `podid`), from the root command commander parsed them for. */
function typedArgs(cmd: Command): string[] {
  let root = cmd;
  while (root.parent) root = root.parent;
  const args = (root as unknown as { rawArgs?: string[] }).rawArgs ?? [];
  const end = args.indexOf("--");
  return args.slice(2, end < 0 ? undefined : end);
}

/** The value of a short `-n` the user typed (`-n x`, `-nx`, `-n=x`), if any. */
function shortNValue(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-n") return args[i + 1] ?? "";
    const attached = /^-n=?(.+)$/.exec(args[i]);
    if (attached) return attached[1];
  }
  return undefined;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * On the commands where `-n` was the namespace before it became the name everywhere (as in az), a `-n` typed the
 * old way is refused with what changed, never taken silently as a name. `name` says what -n names there now; a
 * command with no name takes no -n at all. Where the name was required (then only as --name), a command line of
 * the old days always had --name: there -n is the old use only beside --name. Elsewhere (an optional name) the old
 * use cannot be told from the new, so -n as the name needs --namespace beside it.
 */
export function refuseOldNamespaceFlag(cmd: Command, name?: string, options: { nameWasRequired?: boolean } = {}): Command {
  if (!name) cmd.addOption(new Option("-n <value>", "Was the namespace; now --namespace.").hideHelp());
  return cmd.hook("preAction", (_root, action) => {
    if (action !== cmd) return;
    const typed = typedArgs(cmd);
    const value = shortNValue(typed);
    if (value === undefined) return;
    if (name && options.nameWasRequired && !typed.some((a) => a === "--name" || a.startsWith("--name="))) return;
    if (name && !options.nameWasRequired && cmd.getOptionValueSource("namespace") === "cli") return;
    const now = name ? `-n is now ${name} (-n/--name, as in az)` : "it takes no -n (-n is the name on podid's commands, as in az)";
    throw new UsageError(
      `-n no longer means the namespace on '${commandPath(cmd)}': ${now}; the namespace is --namespace`,
      name && !options.nameWasRequired
        ? `For the namespace write --namespace ${value || "NS"}; to give ${name} as -n, also give the namespace with --namespace.`
        : `Write --namespace ${value || "NS"}.`,
      UsageCode.NamespaceFlagChanged,
    );
  });
}
