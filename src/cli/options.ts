import { Option, type Command } from "commander";

/** Where Azure calls go: the Azure CLI's names. */
export interface AzureOptions {
  subscription?: string;
  cloud?: string;
}

/** Which cluster and namespace: kubectl's names. */
export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  yes?: boolean;
}

export function withAzureOptions(cmd: Command): Command {
  return cmd
    .option("--subscription <id>", "Subscription id (default: AZURE_SUBSCRIPTION_ID).")
    .option("--cloud <name|file>", "AzureCloud, AzureChinaCloud, AzureUSGovernment or a cloud profile file (default: PODID_CLOUD, else AzureCloud).");
}

export function withKubeOptions(cmd: Command, namespaceFlags = "-n, --namespace <namespace>"): Command {
  return cmd
    .option("--kubeconfig <file>", "Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config).")
    .option("--context <name>", "The kubeconfig context to use (default: the current context).")
    .addOption(new Option(namespaceFlags, "Kubernetes namespace (default: the context's namespace, else default)."));
}

export function withWriteOptions(cmd: Command): Command {
  return cmd
    .option("--dry-run", "Print the plan: every Azure and cluster change, in order, without making any.")
    .option("-y, --yes", "Do not prompt; answer yes to confirmations.");
}

/** Commander parser for a repeatable option: each use adds a value. */
export function collectValues(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
