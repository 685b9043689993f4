import type { Command } from "commander";
import { action } from "../cli/action.js";
import { askFor } from "../cli/prompt.js";
import { refuseOldNamespaceFlag, repeatable, required, withKubeOptions, withWriteOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import { parseWorkloadRefs, WORKLOAD_KINDS_HELP } from "../core/workload-kinds.js";
import { checkKubeName, checkLabelValue } from "../core/validate.js";
import { kubeTarget, openKube } from "./open-kube.js";
import { AAD_POD_IDENTITY_API_VERSION } from "../aadpodidentity/types.js";

type BindOptions = KubeOptions & WriteOptions & { selector?: string; identity?: string; name?: string; label?: string[]; force?: boolean };

export function configureBind(cmd: Command): void {
  cmd
    .option("--selector <selector>", required("Value of the pods' aadpodidbinding label."))
    .option("--identity <name>", required("Name of the AzureIdentity (in the same namespace)."))
    .option("-n, --name <binding>", "Name of the binding (default: <identity>-binding).")
    .addOption(repeatable("--label <kind/name>", `Also label this workload's pods: ${WORKLOAD_KINDS_HELP}.`))
    .option("--force", "Re-point an existing binding of that name to this selector and identity (its pods lose their identity).");
  refuseOldNamespaceFlag(withWriteOptions(withKubeOptions(cmd)), "the binding's name")
    .addHelpText(
      "after",
      `
Examples:
  Bind the identity my-app-id to pods labelled aadpodidbinding=my-app, and label the deployment my-app:
    podid bind --selector my-app --identity my-app-id --namespace team-a --label deploy/my-app
  Print the binding for GitOps instead of applying it:
    podid bind --selector my-app --identity my-app-id --dry-run -o yaml`,
    )
    .action(
      action<BindOptions>(async (o, ctx) => {
        // What can be refused without the cluster is, before its client loads.
        const kubeOptions = kubeTarget(o);
        const identityName = await askFor(
          ctx,
          o.identity,
          {
            flag: "--identity",
            message: "AzureIdentity to bind",
            validate: (v) => checkKubeName("--identity", v),
            choices: async () => {
              const kube = await openKube(kubeOptions);
              return (await kube.list(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", kube.namespace)).map((i) => i.metadata!.name!);
            },
          },
          o.yes,
        );
        const selector = await askFor(ctx, o.selector, { flag: "--selector", message: "Selector (the pods' aadpodidbinding label value)", validate: (v) => checkLabelValue("--selector", v) }, o.yes);
        const bindingName = o.name !== undefined ? checkKubeName("-n/--name", o.name) : undefined;
        const workloads = parseWorkloadRefs(o.label ?? []);
        const { bind } = await import("../core/bind.js");
        const { writeResult } = await import("./write-result.js");
        const kube = await openKube(kubeOptions);
        const result = await bind(
          {
            identityName,
            selector,
            namespace: kube.namespace,
            bindingName,
            workloads,
            force: Boolean(o.force),
          },
          kube,
          { dryRun: Boolean(o.dryRun), progress: ctx.progress },
        );
        result.warnings.forEach((w) => ctx.logger.warn(w));
        return writeResult(result);
      }),
    );
}

/** `podid unbind`: the reverse of bind. */
export function configureUnbind(cmd: Command): void {
  cmd
    .option("--identity <name>", required("Name of the AzureIdentity whose bindings to delete."))
    .option("-n, --name <binding>", "Delete only this binding.")
    .addOption(repeatable("--label <kind/name>", "Also take the aadpodidbinding label podid set off this workload."));
  refuseOldNamespaceFlag(withWriteOptions(withKubeOptions(cmd)), "the binding's name")
    .addHelpText("after", "\nExample:\n  podid unbind --identity my-app-id --namespace team-a --label deploy/my-app")
    .action(
      action<BindOptions>(async (o, ctx) => {
        const kubeOptions = kubeTarget(o);
        const identityName = await askFor(ctx, o.identity, { flag: "--identity", message: "AzureIdentity to unbind", validate: (v) => checkKubeName("--identity", v) }, o.yes);
        const bindingName = o.name !== undefined ? checkKubeName("-n/--name", o.name) : undefined;
        const workloads = parseWorkloadRefs(o.label ?? []);
        const { unbind } = await import("../core/bind.js");
        const { writeResult } = await import("./write-result.js");
        const kube = await openKube(kubeOptions);
        const result = await unbind(
          { identityName, namespace: kube.namespace, bindingName, workloads },
          kube,
          { dryRun: Boolean(o.dryRun), progress: ctx.progress },
        );
        return writeResult(result);
      }),
    );
}

