import { Option, type Command } from "commander";
import { action } from "../cli/action.js";
import { UsageError } from "../errors/index.js";
import { confirm } from "../cli/prompt.js";
import { repeatable, withAzureOptions, withKubeOptions, withWriteOptions, type AzureOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import type { ClusterInfo } from "../azure/clusters.js";
import type { RoleService } from "../azure/roles.js";
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
        const { ClusterService } = await import("../azure/clusters.js");
        const { openAzureSession } = await import("../azure/session.js");
        const { openKubeSession } = await import("../kube/session.js");
        const { lookUpCluster } = await import("../core/cluster-lookup.js");
        const { install } = await import("../core/install.js");
        const { writeResult } = await import("./write-result.js");
        const kube = openKubeSession({ kubeconfig: o.kubeconfig, context: o.context });
        const azure = o.skipRoleAssignments ? undefined : openAzureSession({ cloud: o.cloud, subscription: o.subscription });
        const cluster = azure
          ? await lookUpCluster(new ClusterService(azure), { name: o.cluster, resourceGroup: o.resourceGroup }, { contextName: kube.config.getCurrentContext() })
          : undefined;
        const result = await install(
          {
            values: values(o),
            cluster,
            identityResourceGroups: o.identityResourceGroup?.length ? o.identityResourceGroup : cluster ? [cluster.resourceGroup] : [],
            skipRoleAssignments: Boolean(o.skipRoleAssignments),
            wait: o.wait,
            timeoutSeconds: timeoutSeconds(o.timeout),
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
    .option("--cluster <name>", "AKS cluster whose kubelet identity's grants podid made are removed (default: the kubeconfig context's name).")
    .option("-g, --resource-group <group>", "Resource group of the cluster.")
    .option("--keep-role-assignments", "Leave the kubelet identity's role assignments podid made (Virtual Machine Contributor, Managed Identity Operator).")
    .addHelpText("after", "\nExample:\n  podid uninstall --yes")
    .action(
      action<KubeOptions & AzureOptions & WriteOptions & { force?: boolean; cluster?: string; resourceGroup?: string; keepRoleAssignments?: boolean }>(async (o, ctx) => {
        const { ClusterService } = await import("../azure/clusters.js");
        const { RoleService } = await import("../azure/roles.js");
        const { openAzureSession } = await import("../azure/session.js");
        const { openKubeSession } = await import("../kube/session.js");
        const { lookUpCluster } = await import("../core/cluster-lookup.js");
        const { uninstall } = await import("../core/install.js");
        const { writeResult } = await import("./write-result.js");
        const kube = openKubeSession({ kubeconfig: o.kubeconfig, context: o.context });
        const v = { ...INSTALL_DEFAULTS, namespace: checkNamespace(o.namespace ?? INSTALL_DEFAULTS.namespace) };
        if (!o.dryRun) await confirm(ctx, `remove podid's CRDs, RBAC, MIC and NMI from the cluster at ${kube.server}`, Boolean(o.yes));
        let grants: { roles: RoleService; cluster: ClusterInfo } | undefined;
        if (!o.keepRoleAssignments) {
          try {
            const azure = openAzureSession({ cloud: o.cloud, subscription: o.subscription });
            grants = { roles: new RoleService(azure), cluster: await lookUpCluster(new ClusterService(azure), { name: o.cluster, resourceGroup: o.resourceGroup }, { contextName: kube.config.getCurrentContext() }) };
          } catch (err) {
            // Without Azure (no subscription, no sign-in, no such cluster) the cluster side still goes; say what stays.
            ctx.logger.warn(`the kubelet identity's role assignments podid made were not removed (${(err as Error).message}); pass --cluster and -g with an Azure sign-in to remove them, or remove them with az role assignment delete`);
          }
        }
        const result = await uninstall(v, kube, { force: Boolean(o.force), dryRun: Boolean(o.dryRun), progress: ctx.progress, grants });
        if (!o.dryRun) ctx.logger.warn(result.iptables);
        return writeResult(result);
      }),
    );
}
