import type { Command } from "commander";
import { action } from "../cli/action.js";
import { withKubeOptions, withWriteOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import { openKubeSession } from "../kube/session.js";
import { AAD_POD_IDENTITY_API_VERSION } from "../aadpodidentity/types.js";
import { renderAzurePodIdentityException } from "../render/identity.js";
import { applyObjectStep } from "../core/apply-step.js";
import { runSteps } from "../core/steps.js";
import { listExceptions, parsePodLabels } from "../core/exception.js";
import { checkKubeName, checkNamespace } from "../core/validate.js";
import { askFor } from "../cli/prompt.js";
import { planOutput } from "./plan-output.js";

type ExceptionOptions = KubeOptions & WriteOptions & { name?: string; podLabels?: string; allNamespaces?: boolean };

function kubeFor(o: KubeOptions) {
  return openKubeSession({ kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace ? checkNamespace(o.namespace) : undefined });
}

export function configureException(exception: Command): void {

  withWriteOptions(withKubeOptions(exception.command("add").description("Exempt pods in a namespace carrying any of the given labels.")))
    .option("--name <name>", "Name of the exception.")
    .option("--pod-labels <k=v[,k=v]>", "Pod labels that exempt a pod (any one of them).")
    .addHelpText("after", "\nExample:\n  podid exception add --name coredns -n kube-system --pod-labels k8s-app=kube-dns")
    .action(
      action<ExceptionOptions>(async (o, ctx) => {
        const name = await askFor(ctx, o.name, { flag: "--name", message: "Name of the exception", validate: (v) => checkKubeName("--name", v) }, o.yes);
        const podLabels = parsePodLabels(await askFor(ctx, o.podLabels, { flag: "--pod-labels", message: "Pod labels (k=v[,k=v])" }, o.yes));
        const kube = kubeFor(o);
        const object = renderAzurePodIdentityException({ name, namespace: kube.namespace, podLabels });
        const steps = await runSteps([applyObjectStep(kube, () => object)], { dryRun: Boolean(o.dryRun), progress: (m) => ctx.progress(m) });
        return planOutput({ exception: { name, namespace: kube.namespace, podLabels }, steps, dryRun: Boolean(o.dryRun) }, ctx, o.dryRun);
      }),
    );

  withWriteOptions(withKubeOptions(exception.command("delete").description("Delete an exception.")))
    .option("--name <name>", "Name of the exception.")
    .addHelpText("after", "\nExample:\n  podid exception delete --name coredns -n kube-system")
    .action(
      action<ExceptionOptions>(async (o, ctx) => {
        const name = await askFor(ctx, o.name, { flag: "--name", message: "Name of the exception", validate: (v) => checkKubeName("--name", v) }, o.yes);
        const kube = kubeFor(o);
        const header = { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzurePodIdentityException", metadata: { name, namespace: kube.namespace } };
        if (o.dryRun) return { exception: { name, namespace: kube.namespace }, action: (await kube.read(header)) ? "delete" : "none", dryRun: true };
        // Deleting what is already gone succeeds: a re-run of an interrupted clean-up must finish, not fail.
        const deleted = await kube.delete(header);
        return { exception: { name, namespace: kube.namespace }, outcome: deleted ? "deleted" : "absent" };
      }),
    );

  withKubeOptions(exception.command("list").description("List exceptions."))
    .option("-A, --all-namespaces", "List across all namespaces.")
    .addHelpText("after", "\nExample:\n  podid exception list -A -o table")
    .action(action<ExceptionOptions>(async (o) => listExceptions(kubeFor(o), o.allNamespaces ? undefined : kubeFor(o).namespace)));
}
