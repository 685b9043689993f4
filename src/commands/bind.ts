import type { Command } from "commander";
import { action } from "../cli/action.js";
import { askFor } from "../cli/prompt.js";
import { collectValues, withKubeOptions, withWriteOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import { openKubeSession } from "../kube/session.js";
import { bind, parseWorkloadRef, unbind } from "../core/bind.js";
import { checkKubeName, checkLabelValue, checkNamespace } from "../core/validate.js";
import { AAD_POD_IDENTITY_API_VERSION } from "../kube/aadpodidentity.js";
import { planOutput } from "./plan-output.js";

type BindOptions = KubeOptions & WriteOptions & { selector?: string; identity?: string; name?: string; label: string[]; force?: boolean };

export function configureBind(cmd: Command): void {
  cmd
    .option("--selector <selector>", "Value of the pods' aadpodidbinding label.")
    .option("--identity <name>", "Name of the AzureIdentity (in the same namespace).")
    .option("--name <binding>", "Name of the binding (default: <identity>-binding).")
    .option("--label <kind/name>", "Also label this workload's pods (deployment, statefulset, daemonset, job, cronjob, pod); repeatable.", collectValues, [])
    .option("--force", "Re-point an existing binding of that name to this selector and identity (its pods lose their identity).");
  withWriteOptions(withKubeOptions(cmd))
    .addHelpText(
      "after",
      `
Examples:
  Bind the identity my-app-id to pods labelled aadpodidbinding=my-app, and label the deployment my-app:
    podid bind --selector my-app --identity my-app-id -n team-a --label deployment/my-app
  Print the binding for GitOps instead of applying it:
    podid bind --selector my-app --identity my-app-id --dry-run -o yaml`,
    )
    .action(
      action<BindOptions>(async (o, ctx) => {
        const kube = openKubeSession({ kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace ? checkNamespace(o.namespace) : undefined });
        const identityName = await askFor(
          ctx,
          o.identity,
          {
            flag: "--identity",
            message: "AzureIdentity to bind",
            validate: (v) => checkKubeName("--identity", v),
            choices: async () => (await kube.list(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", kube.namespace)).map((i) => i.metadata!.name!),
          },
          o.yes,
        );
        const selector = await askFor(ctx, o.selector, { flag: "--selector", message: "Selector (the pods' aadpodidbinding label value)", validate: (v) => checkLabelValue("--selector", v) }, o.yes);
        const result = await bind(
          {
            identityName,
            selector,
            namespace: kube.namespace,
            bindingName: o.name !== undefined ? checkKubeName("--name", o.name) : undefined,
            workloads: o.label.map(parseWorkloadRef),
            force: Boolean(o.force),
          },
          kube,
          { dryRun: Boolean(o.dryRun), progress: (m) => ctx.progress(m) },
        );
        result.warnings.forEach((w) => ctx.logger.warn(w));
        return planOutput(result, ctx, o.dryRun);
      }),
    );
}

/** `podid unbind`: the reverse of bind. */
export function configureUnbind(cmd: Command): void {
  withWriteOptions(
    withKubeOptions(
      cmd
        .option("--identity <name>", "Name of the AzureIdentity whose bindings to delete.")
        .option("--name <binding>", "Delete only this binding.")
        .option("--label <kind/name>", "Also take the aadpodidbinding label podid set off this workload; repeatable.", collectValues, []),
    ),
  )
    .addHelpText("after", "\nExample:\n  podid unbind --identity my-app-id -n team-a --label deployment/my-app")
    .action(
      action<BindOptions>(async (o, ctx) => {
        const kube = openKubeSession({ kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace ? checkNamespace(o.namespace) : undefined });
        const identityName = await askFor(ctx, o.identity, { flag: "--identity", message: "AzureIdentity to unbind", validate: (v) => checkKubeName("--identity", v) }, o.yes);
        const result = await unbind(
          { identityName, namespace: kube.namespace, bindingName: o.name !== undefined ? checkKubeName("--name", o.name) : undefined, workloads: o.label.map(parseWorkloadRef) },
          kube,
          { dryRun: Boolean(o.dryRun), progress: (m) => ctx.progress(m) },
        );
        return planOutput(result, ctx, o.dryRun);
      }),
    );
}
