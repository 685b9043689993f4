import type { Command } from "commander";
import { action } from "../cli/action.js";
import { refuseOldNamespaceFlag, required, withKubeOptions, withWriteOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import { present } from "../cli/presented.js";
import { UsageError } from "../errors/index.js";
import { AAD_POD_IDENTITY_API_VERSION } from "../aadpodidentity/types.js";
import { renderAzurePodIdentityException } from "../render/identity.js";
import { applyObjectStep, deleteObjectStep } from "../core/apply-step.js";
import { runSteps } from "../core/steps.js";
import { requireInstalled } from "../core/preflight.js";
import { listExceptions, parsePodLabels } from "../core/exception.js";
import { checkKubeName } from "../core/validate.js";
import { askFor } from "../cli/prompt.js";
import { writeResult } from "./write-result.js";
import { openKube } from "./open-kube.js";

type ExceptionOptions = KubeOptions & WriteOptions & { name?: string; podLabels?: string; allNamespaces?: boolean };

export function configureException(exception: Command): void {
  const add = exception
    .command("add")
    .description("Exempt pods in a namespace carrying any of the given labels.")
    .option("-n, --name <name>", required("Name of the exception."))
    .option("--pod-labels <k=v[,k=v]>", required("Pod labels that exempt a pod (any one of them)."));
  refuseOldNamespaceFlag(withWriteOptions(withKubeOptions(add)), "the exception's name", { nameWasRequired: true })
    .addHelpText("after", "\nExample:\n  podid exception add -n coredns --namespace kube-system --pod-labels k8s-app=kube-dns")
    .action(
      action<ExceptionOptions>(async (o, ctx) => {
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Name of the exception", validate: (v) => checkKubeName("-n/--name", v) }, o.yes);
        const podLabels = parsePodLabels(await askFor(ctx, o.podLabels, { flag: "--pod-labels", message: "Pod labels (k=v[,k=v])" }, o.yes));
        const kube = await openKube(o);
        const object = renderAzurePodIdentityException({ name, namespace: kube.namespace, podLabels });
        await requireInstalled(kube, kube.namespace);
        const steps = await runSteps([applyObjectStep(kube, () => object)], { dryRun: Boolean(o.dryRun), progress: ctx.progress });
        return writeResult({ exception: { name, namespace: kube.namespace, podLabels }, steps, dryRun: Boolean(o.dryRun) });
      }),
    );

  const remove = exception.command("delete").description("Delete an exception.").option("-n, --name <name>", required("Name of the exception."));
  refuseOldNamespaceFlag(withWriteOptions(withKubeOptions(remove)), "the exception's name", { nameWasRequired: true })
    .addHelpText("after", "\nExample:\n  podid exception delete -n coredns --namespace kube-system")
    .action(
      action<ExceptionOptions>(async (o, ctx) => {
        const name = await askFor(ctx, o.name, { flag: "-n/--name", message: "Name of the exception", validate: (v) => checkKubeName("-n/--name", v) }, o.yes);
        const kube = await openKube(o);
        const header = { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzurePodIdentityException", metadata: { name, namespace: kube.namespace } };
        // Deleting what is already gone succeeds ("absent"): a re-run of an interrupted clean-up must finish, not fail.
        const steps = await runSteps([deleteObjectStep(kube, header)], { dryRun: Boolean(o.dryRun), progress: ctx.progress });
        return writeResult({ exception: { name, namespace: kube.namespace }, steps, dryRun: Boolean(o.dryRun) });
      }),
    );

  refuseOldNamespaceFlag(withKubeOptions(exception.command("list").description("List exceptions.")))
    .option("-A, --all-namespaces", "List across all namespaces.")
    .addHelpText("after", "\nExamples:\n  podid exception list -A -o table\n  podid exception list --namespace kube-system --query \"[].name\" -o tsv")
    .action(
      action<ExceptionOptions>(async (o) => {
        if (o.allNamespaces && o.namespace) throw new UsageError("--namespace and -A/--all-namespaces cannot be used together", "Pass one of them.");
        const kube = await openKube(o);
        const list = await listExceptions(kube, o.allNamespaces ? undefined : kube.namespace);
        return present(list, { table: (rows) => rows.map((e) => ({ name: e.name, namespace: e.namespace, podLabels: Object.entries(e.podLabels).map(([k, v]) => `${k}=${v}`).join(",") })) });
      }),
    );
}
