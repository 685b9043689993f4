import { Option, type Command } from "commander";
import { action } from "../cli/action.js";
import { UsageError } from "../errors/index.js";
import { confirm } from "../cli/prompt.js";
import { repeatable, withAzureOptions, withKubeOptions, withWriteOptions, type AzureOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import { openAzure, optionalAzure } from "./optional-azure.js";
import { azureTarget } from "../azure/target.js";
import { checkNamespace } from "../core/validate.js";
import { INSTALL_DEFAULTS, type InstallValues } from "../render/install.js";

type InstallOptions = AzureOptions &
  KubeOptions &
  WriteOptions & {
    cluster?: string;
    resourceGroup?: string;
    identityResourceGroup?: string[];
    kubenet?: boolean;
    image?: string;
    imageTag?: string;
    runtime: "podid" | "upstream";
    skipRoleAssignments?: boolean;
    wait: boolean;
    timeout: string;
  };

/** install's and uninstall's namespace is where MIC and NMI run, not the context's. */
const RUNTIME_NAMESPACE = { description: "Namespace MIC and NMI run in", default: INSTALL_DEFAULTS.namespace };

function values(o: InstallOptions): InstallValues {
  return {
    namespace: checkNamespace(o.namespace ?? INSTALL_DEFAULTS.namespace),
    image: o.image ?? INSTALL_DEFAULTS.image,
    imageTag: o.imageTag ?? INSTALL_DEFAULTS.imageTag,
    runtime: o.runtime,
    allowKubenet: Boolean(o.kubenet),
  };
}

function timeoutSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`argument --timeout: '${value}' is not a number of seconds`, "Pass e.g. --timeout 300.");
  return n;
}

export function configureInstall(cmd: Command): void {
  withWriteOptions(withKubeOptions(withAzureOptions(cmd), RUNTIME_NAMESPACE))
    .option("--cluster <name>", "AKS cluster (default: the kubeconfig context's name).")
    .option("-g, --resource-group <group>", "Resource group of the cluster.")
    .addOption(repeatable("--identity-resource-group <group>", "Where the pods' identities will live: the kubelet identity may assign identities there (default: the cluster's group)."))
    .option("--kubenet", "Allow NMI on a kubenet cluster (read the security warning it prints).")
    .option("--image <repository>", `Runtime image repository (default: ${INSTALL_DEFAULTS.image}).`)
    .option("--image-tag <tag>", "Runtime image tag (default: this podid's version).")
    .addOption(new Option("--runtime <runtime>", "Run podid's runtime, or the same manifests with the upstream aad-pod-identity images.").choices(["podid", "upstream"]).default("podid"))
    .option("--skip-role-assignments", "Do not grant the kubelet identity its roles (someone else does).")
    .option("--no-wait", "Do not wait for MIC and NMI to be ready.")
    .addOption(new Option("--timeout <seconds>", "How long to wait for the rollout.").default("300", "300"))
    .addHelpText(
      "after",
      `
Examples:
  Install into the cluster of the current kubeconfig context, with the kubelet identity's roles:
    podid install -g my-rg --cluster my-aks
  The manifests for GitOps, nothing applied:
    podid install -g my-rg --cluster my-aks --dry-run -o yaml > podid.yaml`,
    )
    .action(
      action<InstallOptions>(async (o, ctx) => {
        // What can be refused without Azure or the cluster is, before their clients load.
        const installValues = values(o);
        const timeout = timeoutSeconds(o.timeout);
        if (!o.skipRoleAssignments) azureTarget({ cloud: o.cloud, subscription: o.subscription });
        const { ClusterService } = await import("../azure/clusters.js");
        const { openKubeSession } = await import("../kube/session.js");
        const { lookUpCluster } = await import("../core/cluster-lookup.js");
        const { install } = await import("../core/install.js");
        const { writeResult } = await import("./write-result.js");
        const kube = openKubeSession({ kubeconfig: o.kubeconfig, context: o.context });
        const azure = o.skipRoleAssignments ? undefined : await openAzure(o);
        const cluster = azure
          ? await lookUpCluster(new ClusterService(azure), { name: o.cluster }, { contextName: kube.config.getCurrentContext(), resourceGroup: o.resourceGroup })
          : undefined;
        const result = await install(
          {
            values: installValues,
            cluster,
            identityResourceGroups: o.identityResourceGroup?.length ? o.identityResourceGroup : cluster ? [cluster.resourceGroup] : [],
            skipRoleAssignments: Boolean(o.skipRoleAssignments),
            wait: o.wait,
            timeoutSeconds: timeout,
          },
          azure,
          kube,
          { dryRun: Boolean(o.dryRun), progress: ctx.progress },
        );
        result.warnings.forEach((w) => ctx.logger.warn(w));
        return writeResult(result);
      }),
    );
}

export function configureUninstall(cmd: Command): void {
  withWriteOptions(withKubeOptions(withAzureOptions(cmd), RUNTIME_NAMESPACE))
    .option("--force", "Remove everything even while AzureIdentities exist (they go with the CRDs).")
    .option("--delete-identities", "First delete podid's AzureIdentities with what podid made for them (as podid identity delete): the identities podid created, their role assignments, their bindings.")
    .option("--cluster <name>", "AKS cluster whose kubelet identity's grants podid made and recorded nowhere are looked for (default: the kubeconfig context's name).")
    .option("-g, --resource-group <group>", "Resource group of the cluster.")
    .addHelpText("after", "\nExamples:\n  podid uninstall --dry-run\n  podid uninstall --delete-identities --yes")
    .action(
      action<AzureOptions & KubeOptions & WriteOptions & { force?: boolean; deleteIdentities?: boolean; cluster?: string; resourceGroup?: string }>(async (o, ctx) => {
        const namespace = checkNamespace(o.namespace ?? INSTALL_DEFAULTS.namespace);
        const { openKubeSession } = await import("../kube/session.js");
        const { uninstall } = await import("../core/uninstall.js");
        const { writeResult } = await import("./write-result.js");
        const kube = openKubeSession({ kubeconfig: o.kubeconfig, context: o.context });
        const azure = await optionalAzure(o, ctx);
        const input = {
          values: { ...INSTALL_DEFAULTS, namespace },
          force: Boolean(o.force),
          deleteIdentities: Boolean(o.deleteIdentities),
          cluster: { name: o.cluster, resourceGroup: o.resourceGroup },
        };
        const tell = (r: { warnings: string[]; leaves: string[] }) => [...r.warnings, ...r.leaves.map((l) => `left in place: ${l}`)].forEach((w) => ctx.logger.warn(w));
        const result = await uninstall(input, kube, azure, {
          dryRun: Boolean(o.dryRun),
          progress: ctx.progress,
          confirm: (context, removes) => confirm(ctx, `uninstall podid from kubeconfig context '${context}', removing: ${removes.length ? removes.join("; ") : "nothing (it is not installed)"}`, Boolean(o.yes)),
        });
        tell(result);
        if (!o.dryRun) ctx.logger.warn(result.iptables);
        return writeResult(result);
      }),
    );
}
