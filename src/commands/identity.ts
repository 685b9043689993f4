import type { Command } from "commander";
import { action } from "../cli/action.js";
import { askFor } from "../cli/prompt.js";
import { collectValues, withAzureOptions, withKubeOptions, withWriteOptions, type AzureOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import { ClusterService } from "../azure/clusters.js";
import { openAzureSession } from "../azure/session.js";
import { openKubeSession } from "../kube/session.js";
import { lookUpCluster } from "../core/cluster-lookup.js";
import { identityAdd } from "../core/identity-add.js";
import { listIdentities, showIdentity } from "../core/identity-lifecycle.js";
import { deleteIdentity } from "../core/identity-delete.js";
import { confirm } from "../cli/prompt.js";
import { planOutput } from "./plan-output.js";
import { optionalAzure } from "./optional-azure.js";
import { checkAzureIdentityName, checkKubeName, checkLabelValue, checkNamespace } from "../core/validate.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { UsageCode, UsageError } from "../errors/index.js";

type AddOptions = AzureOptions &
  KubeOptions &
  WriteOptions & {
    name?: string;
    resourceGroup?: string;
    location?: string;
    cluster?: string;
    clusterResourceGroup?: string;
    role: string[];
    scope: string[];
    identityResourceId?: string;
    bindingSelector?: string;
  };

export function configureIdentity(identity: Command): void {

  const add = identity
    .command("add")
    .description("Create (or adopt) a user-assigned identity, grant its roles, let the cluster's kubelet identity assign it, and apply the AzureIdentity.")
    .option("-n, --name <name>", "Name of the identity (in Azure and in the cluster).")
    .option("-g, --resource-group <group>", "Resource group of the identity.")
    .option("-l, --location <location>", "Azure region of a new identity (default: the cluster's).")
    .option("--cluster <name>", "AKS cluster whose pods will use the identity (default: the kubeconfig context's name).")
    .option("--cluster-resource-group <group>", "Resource group of the cluster (default: -g).")
    .option("--role <role>", "Role to grant the identity, by name or id; repeatable.", collectValues, [])
    .option("--scope <scope>", "Scope to grant each --role at (default: the identity's resource group); repeatable.", collectValues, [])
    .option("--identity-resource-id <id>", "Adopt this existing user-assigned identity instead of creating one.")
    .option("--binding-selector <selector>", "Also bind pods labelled aadpodidbinding=<selector> to the identity.");
  withWriteOptions(withKubeOptions(withAzureOptions(add), "--namespace <namespace>"))
    .addHelpText(
      "after",
      `
Examples:
  Create an identity that may read the group "app-rg", for pods labelled aadpodidbinding=my-app:
    podid identity add -n my-app-id -g app-rg --cluster my-aks --role Reader --scope /subscriptions/<sub>/resourceGroups/app-rg --binding-selector my-app
  Adopt an existing identity and see what would happen, without changing anything:
    podid identity add -n my-app-id --identity-resource-id /subscriptions/<sub>/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/my-app-id --dry-run
  Capture the client id in a script:
    CLIENT_ID=$(podid identity add -n my-app-id -g app-rg --query identity.clientId -o tsv)`,
    )
    .action(
      action<AddOptions>(async (o, ctx) => {
        if (o.scope.length && !o.role.length) throw new UsageError("--scope was given without --role", "Pass --role ROLE for each role to grant at the scopes.", UsageCode.ScopeWithoutRole);
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Name of the identity", validate: (v) => checkAzureIdentityName(checkKubeName("identity name", v)) }, o.yes);
        const adopted = o.identityResourceId ? parseResourceId(o.identityResourceId, USER_ASSIGNED_IDENTITY_TYPE) : undefined;
        const resourceGroup =
          adopted?.resourceGroup ??
          (await askFor(
            ctx,
            o.resourceGroup,
            { flag: "-g/--resource-group", message: "Resource group of the identity", choices: () => openAzureSession({ cloud: o.cloud, subscription: o.subscription }).resourceGroupNames() },
            o.yes,
          ));
        const selector = o.bindingSelector !== undefined ? checkLabelValue("--binding-selector", o.bindingSelector) : undefined;
        const kube = openKube(o);
        const azure = openAzureSession({ cloud: o.cloud, subscription: o.subscription ?? adopted?.subscriptionId });
        const cluster = await lookUpCluster(new ClusterService(azure), { name: o.cluster, resourceGroup: o.clusterResourceGroup }, { contextName: kube.config.getCurrentContext(), resourceGroup });
        const result = await identityAdd(
          {
            name,
            resourceGroup,
            location: o.location,
            namespace: kube.namespace,
            identityResourceId: o.identityResourceId,
            roles: o.role,
            scopes: o.scope,
            bindingSelector: selector,
            cluster,
          },
          azure,
          kube,
          { dryRun: Boolean(o.dryRun), progress: (m) => ctx.progress(m) },
        );
        result.warnings.forEach((w) => ctx.logger.warn(w));
        return planOutput(result, ctx, o.dryRun);
      }),
    );

  withKubeOptions(withAzureOptions(identity.command("list").description("List the identities podid manages in the cluster, with their state in Azure.")), "--namespace <namespace>")
    .option("-A, --all-namespaces", "List across all namespaces.")
    .addHelpText("after", "\nExample:\n  podid identity list -A -o table")
    .action(
      action<AzureOptions & KubeOptions & { allNamespaces?: boolean }>(async (o, ctx) => {
        const kube = openKube(o);
        return listIdentities(kube, optionalAzure(o, ctx), o.allNamespaces ? undefined : kube.namespace);
      }),
    );

  withKubeOptions(withAzureOptions(identity.command("show").description("Show one identity: its AzureIdentity, bindings, Azure state and role assignments.")), "--namespace <namespace>")
    .option("-n, --name <name>", "Name of the identity.")
    .addHelpText("after", "\nExample:\n  podid identity show -n my-app-id --namespace team-a --query clientId -o tsv")
    .action(
      action<AzureOptions & KubeOptions & { name?: string; yes?: boolean }>(async (o, ctx) => {
        const kube = openKube(o);
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Identity", validate: (v) => checkKubeName("identity name", v), choices: async () => (await listIdentities(kube, undefined, kube.namespace)).map((i) => i.name) });
        return showIdentity(kube, optionalAzure(o, ctx), name);
      }),
    );

  withWriteOptions(withKubeOptions(withAzureOptions(identity.command("delete").description("Delete an identity and everything podid made for it: bindings, AzureIdentity, role assignments, and the Azure identity if podid created it.")), "--namespace <namespace>"))
    .option("-n, --name <name>", "Name of the identity.")
    .option("-g, --resource-group <group>", "Resource group of the Azure identity (needed only when the AzureIdentity is already gone, e.g. after podid uninstall).")
    .option("--keep-azure-identity", "Keep the user-assigned identity in Azure.")
    .addHelpText("after", "\nExample:\n  podid identity delete -n my-app-id --namespace team-a --yes")
    .action(
      action<AzureOptions & KubeOptions & WriteOptions & { name?: string; resourceGroup?: string; keepAzureIdentity?: boolean }>(async (o, ctx) => {
        const kube = openKube(o);
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Identity to delete", validate: (v) => checkKubeName("identity name", v), choices: async () => (await listIdentities(kube, undefined, kube.namespace)).map((i) => i.name) }, o.yes);
        const azure = openAzureSession({ cloud: o.cloud, subscription: o.subscription });
        if (!o.dryRun) await confirm(ctx, `delete identity ${kube.namespace}/${name} and what podid made for it`, Boolean(o.yes));
        const result = await deleteIdentity({ name, resourceGroup: o.resourceGroup, keepAzureIdentity: Boolean(o.keepAzureIdentity) }, kube, azure, { dryRun: Boolean(o.dryRun), progress: (m) => ctx.progress(m) });
        result.warnings.forEach((w) => ctx.logger.warn(w));
        return result;
      }),
    );
}

function openKube(o: KubeOptions) {
  return openKubeSession({ kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace ? checkNamespace(o.namespace) : undefined });
}
