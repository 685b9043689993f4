import type { Command } from "commander";
import { action } from "../cli/action.js";
import { askFor } from "../cli/prompt.js";
import { refuseOldNamespaceFlag, repeatable, required, withAzureOptions, withKubeOptions, withWriteOptions, type AzureOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import type { IdentityAddResult } from "../core/identity-add.js";
import type { IdentityView } from "../core/identity-lifecycle.js";
import { confirm } from "../cli/prompt.js";
import { present } from "../cli/presented.js";
import { bindingNameFor } from "../render/identity.js";
import { openAzure, optionalAzure } from "./optional-azure.js";
import { kubeTarget, openKube } from "./open-kube.js";
import { azureTarget } from "../azure/target.js";
import type { CommandContext } from "../cli/context.js";
import { checkAzureIdentityName, checkKubeName, checkLabelValue } from "../core/validate.js";
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
    role?: string[];
    scope?: string[];
    identityResourceId?: string;
    bindingSelector?: string;
  };

export function configureIdentity(identity: Command): void {

  const add = identity
    .command("add")
    .description("Create (or adopt) a user-assigned identity, grant its roles, let the cluster's kubelet identity assign it, and apply the AzureIdentity.")
    .option("-n, --name <name>", required("Name of the identity (in Azure and in the cluster)."))
    .option("-g, --resource-group <group>", "Resource group of the identity (required unless --identity-resource-id names it).")
    .option("-l, --location <location>", "Azure region of a new identity (default: the cluster's).")
    .option("--cluster <name>", "AKS cluster whose pods will use the identity (default: the kubeconfig context's name).")
    .option("--cluster-resource-group <group>", "Resource group of the cluster (default: -g).")
    .addOption(repeatable("--role <role>", "Role to grant the identity, by name or id."))
    .addOption(repeatable("--scope <scope>", "Scope to grant each --role at (default: the identity's resource group)."))
    .option("--identity-resource-id <id>", "Adopt this existing user-assigned identity instead of creating one.")
    .option("--binding-selector <selector>", "Also bind pods labelled aadpodidbinding=<selector> to the identity.");
  withWriteOptions(withKubeOptions(withAzureOptions(add)))
    .addHelpText(
      "after",
      `
Examples:
  Create an identity that may read the group "app-rg", for pods labelled aadpodidbinding=my-app:
    podid identity add -n my-app-id -g app-rg --cluster my-aks --role Reader --scope /subscriptions/<sub>/resourceGroups/app-rg --binding-selector my-app
  Adopt an existing identity and see what would happen, without changing anything:
    podid identity add -n my-app-id --identity-resource-id /subscriptions/<sub>/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/my-app-id --dry-run
  Capture the client id in a script:
    CLIENT_ID=$(podid identity add -n my-app-id -g app-rg --query clientId -o tsv)`,
    )
    .action(
      action<AddOptions>(async (o, ctx) => {
        const roles = o.role ?? [];
        const scopes = o.scope ?? [];
        if (scopes.length && !roles.length) throw new UsageError("--scope was given without --role", "Pass --role ROLE for each role to grant at the scopes.", UsageCode.ScopeWithoutRole);
        // What can be refused without Azure or the cluster is, before their clients load.
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Name of the identity", validate: (v) => checkAzureIdentityName(checkKubeName("identity name", v)) }, o.yes);
        const adopted = o.identityResourceId ? parseResourceId(o.identityResourceId, USER_ASSIGNED_IDENTITY_TYPE) : undefined;
        const resourceGroup =
          adopted?.resourceGroup ??
          (await askFor(ctx, o.resourceGroup, { flag: "-g/--resource-group", message: "Resource group of the identity", choices: async () => (await openAzure({ cloud: o.cloud, subscription: o.subscription })).resourceGroupNames() }, o.yes));
        const selector = o.bindingSelector !== undefined ? checkLabelValue("--binding-selector", o.bindingSelector) : undefined;
        const kubeOptions = kubeTarget(o);
        const target = azureTarget({ cloud: o.cloud, subscription: o.subscription ?? adopted?.subscriptionId });
        const { ClusterService } = await import("../azure/clusters.js");
        const { lookUpCluster } = await import("../core/cluster-lookup.js");
        const { identityAdd } = await import("../core/identity-add.js");
        const { showIdentity } = await import("../core/identity-lifecycle.js");
        const { writeResult } = await import("./write-result.js");
        const kube = await openKube(kubeOptions);
        const azure = await openAzure({ cloud: o.cloud, subscription: target.subscriptionId });
        const aks = await lookUpCluster(new ClusterService(azure), { name: o.cluster, resourceGroup: o.clusterResourceGroup }, { contextName: kube.config.getCurrentContext(), resourceGroup });
        const result = await identityAdd(
          {
            name,
            resourceGroup,
            location: o.location,
            namespace: kube.namespace,
            identityResourceId: o.identityResourceId,
            roles,
            scopes,
            bindingSelector: selector,
            cluster: aks,
          },
          azure,
          kube,
          { dryRun: Boolean(o.dryRun), progress: ctx.progress },
        );
        result.warnings.forEach((w) => ctx.logger.warn(w));
        // The identity as `identity show` shows it, with the steps: one shape, so `--query clientId` serves both.
        const bindingName = bindingNameFor(result.identity.name);
        const view = result.dryRun ? plannedView(result, kube.namespace, selector, bindingName) : await showIdentity(kube, azure, name).catch((err: Error) => {
          ctx.logger.warn(`the identity was added, but reading it back failed (${err.message}); its fields are those the steps reported`);
          return plannedView(result, kube.namespace, selector, bindingName);
        });
        return writeResult({ ...view, steps: result.steps, dryRun: result.dryRun });
      }),
    );

  refuseOldNamespaceFlag(withKubeOptions(withAzureOptions(identity.command("list").description("List the identities podid manages in the cluster, with their state in Azure."))))
    .option("-A, --all-namespaces", "List across all namespaces.")
    .addHelpText("after", "\nExamples:\n  podid identity list -A -o table\n  podid identity list --namespace team-a --query \"[].[name, clientId]\" -o tsv")
    .action(
      action<AzureOptions & KubeOptions & { allNamespaces?: boolean }>(async (o, ctx) => {
        if (o.allNamespaces && o.namespace) throw new UsageError("--namespace and -A/--all-namespaces cannot be used together", "Pass one of them.");
        const kubeOptions = kubeTarget(o);
        const { listIdentities } = await import("../core/identity-lifecycle.js");
        const kube = await openKube(kubeOptions);
        const list = await listIdentities(kube, await optionalAzure(o, ctx), o.allNamespaces ? undefined : kube.namespace);
        list.forEach((i) => warnUnknownState(ctx, i));
        return present(list, { table: (l) => l.map(identityRow) });
      }),
    );

  withKubeOptions(withAzureOptions(identity.command("show").description("Show one identity: its AzureIdentity, bindings, Azure state and role assignments.")))
    .option("-n, --name <name>", required("Name of the identity."))
    .addHelpText("after", "\nExample:\n  podid identity show -n my-app-id --namespace team-a --query clientId -o tsv")
    .action(
      action<AzureOptions & KubeOptions & { name?: string; yes?: boolean }>(async (o, ctx) => {
        const kubeOptions = kubeTarget(o);
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Identity", validate: (v) => checkKubeName("identity name", v), choices: () => identityNames(kubeOptions) });
        const { showIdentity } = await import("../core/identity-lifecycle.js");
        const kube = await openKube(kubeOptions);
        const shown = await showIdentity(kube, await optionalAzure(o, ctx), name);
        warnUnknownState(ctx, shown);
        return present(shown, { table: identityRow });
      }),
    );

  withWriteOptions(withKubeOptions(withAzureOptions(identity.command("delete").description("Delete an identity and everything podid made for it: bindings, AzureIdentity, role assignments, and the Azure identity if podid created it."))))
    .option("-n, --name <name>", required("Name of the identity."))
    .option("-g, --resource-group <group>", "Resource group of the Azure identity (needed only when the AzureIdentity is already gone, e.g. after podid uninstall).")
    .option("--keep-azure-identity", "Keep the user-assigned identity in Azure.")
    .addHelpText("after", "\nExample:\n  podid identity delete -n my-app-id --namespace team-a --yes")
    .action(
      action<AzureOptions & KubeOptions & WriteOptions & { name?: string; resourceGroup?: string; keepAzureIdentity?: boolean }>(async (o, ctx) => {
        const kubeOptions = kubeTarget(o);
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Identity to delete", validate: (v) => checkKubeName("identity name", v), choices: () => identityNames(kubeOptions) }, o.yes);
        const target = azureTarget({ cloud: o.cloud, subscription: o.subscription });
        const { deleteIdentity } = await import("../core/identity-delete.js");
        const { writeResult } = await import("./write-result.js");
        const kube = await openKube(kubeOptions);
        const azure = await openAzure({ cloud: o.cloud, subscription: target.subscriptionId });
        if (!o.dryRun) await confirm(ctx, `delete identity ${kube.namespace}/${name} and what podid made for it`, Boolean(o.yes));
        const result = await deleteIdentity({ name, resourceGroup: o.resourceGroup, keepAzureIdentity: Boolean(o.keepAzureIdentity) }, kube, azure, { dryRun: Boolean(o.dryRun), progress: ctx.progress });
        result.warnings.forEach((w) => ctx.logger.warn(w));
        return writeResult(result);
      }),
    );
}

/** An identity whose state Azure was asked for and did not give: said, not only shown as "unknown". */
function warnUnknownState(ctx: CommandContext, i: IdentityView): void {
  if (i.azureStateReason) ctx.logger.warn(`the Azure state of identity ${i.namespace}/${i.name} is unknown: ${i.azureStateReason}`);
}

/** The identities in the command's namespace, for a prompt's choices: the cluster's client loads only for a prompt. */
async function identityNames(o: KubeOptions): Promise<string[]> {
  const { listIdentities } = await import("../core/identity-lifecycle.js");
  const kube = await openKube(o);
  return (await listIdentities(kube, undefined, kube.namespace)).map((i) => i.name);
}

/** The columns people look for in a list of identities: what it is, who gets it, and whether Azure agrees. */
function identityRow(i: IdentityView) {
  return { name: i.name, namespace: i.namespace, selector: i.bindings.map((b) => b.selector).join(", "), clientId: i.clientId, state: i.azureState };
}

/** An identity add's result in `identity show`'s shape, from its steps: for a dry run, what the identity would be. */
function plannedView(result: IdentityAddResult, namespace: string, selector: string | undefined, bindingName: string): IdentityView & { roleAssignments: { role: string; scope: string }[] } {
  const { identity } = result;
  return {
    name: identity.name,
    namespace,
    type: 0,
    clientId: identity.clientId,
    resourceId: identity.resourceId,
    // A dry run of a new identity: it is not in Azure yet.
    azureState: identity.clientId.startsWith("<") ? "missing" : "ok",
    principalId: identity.principalId,
    bindings: selector ? [{ name: bindingName, selector }] : [],
    roleAssignments: result.roleAssignments.filter((r) => r.principalId === identity.principalId).map((r) => ({ role: String(r.role), scope: String(r.scope) })),
  };
}


