import type { Command } from "commander";
import { action } from "../cli/action.js";
import type { CommandContext } from "../cli/context.js";
import { refuseOldNamespaceFlag, collectValues, withAzureOptions, withKubeOptions, withWriteOptions, type AzureOptions, type KubeOptions, type WriteOptions } from "../cli/options.js";
import { present } from "../cli/presented.js";
import { confirm } from "../cli/prompt.js";
import { MigrateCode, MigrateError, UsageError } from "../errors/index.js";
import { PACKAGE_VERSION } from "../util/package-info.js";
import { parseWorkloadRef } from "../core/workload-kinds.js";
import { checkKubeName, checkNamespace } from "../core/validate.js";
import type { MigrateContext } from "../core/migrate/load.js";
import { writeResult } from "./write-result.js";
import { openAzure } from "./optional-azure.js";
import { azureTarget } from "../azure/target.js";

type MigrateOptions = AzureOptions &
  KubeOptions &
  WriteOptions & {
    allNamespaces?: boolean;
    identity?: string;
    workload: string[];
    cluster?: string;
    resourceGroup?: string;
    proxySidecar?: boolean;
    proxySidecarFor?: string[];
    timeout?: string;
    enableWorkloadIdentity?: boolean;
  };

/** The options every phase takes: what to move (scope) and where the AKS cluster is. */
function withScope(cmd: Command): Command {
  return refuseOldNamespaceFlag(withAzureOptions(withKubeOptions(cmd)))
    .option("-A, --all-namespaces", "Every namespace (default: the context's namespace, or --namespace).")
    .option("--identity <name>", "Only the workloads of this AzureIdentity.")
    .option("--workload <kind/name>", "Only this workload (deployment, statefulset, daemonset, cronjob); repeatable.", collectValues, [])
    .option("--cluster <name>", "AKS cluster (default: the kubeconfig context's name).")
    .option("-g, --resource-group <group>", "Resource group of the cluster.");
}

const withProxy = (cmd: Command) =>
  cmd
    .option("--proxy-sidecar", "Give every workload the IMDS proxy sidecar (for apps whose SDK only speaks IMDS).")
    .option("--proxy-sidecar-for <kind/name>", "Give this workload the IMDS proxy sidecar; repeatable.", collectValues, []);

const withTimeout = (cmd: Command) => cmd.option("--timeout <seconds>", "How long to wait for each rollout, Entra ID's propagation and MIC.", "300");

/** The phases' context; its usage errors come before the Azure SDKs and the Kubernetes client load (so: call it first). */
async function context(o: MigrateOptions, ctx: CommandContext): Promise<MigrateContext> {
  if (o.allNamespaces && o.namespace) throw new UsageError("--namespace and -A/--all-namespaces cannot be used together", "Pass one of them.");
  const timeout = Number(o.timeout ?? "300");
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`argument --timeout: '${o.timeout}' is not a number of seconds`, "Pass e.g. --timeout 300.");
  const workloads = o.workload.map((w) => parseWorkloadRef(w, "--workload"));
  const proxyFor = (o.proxySidecarFor ?? []).map((w) => parseWorkloadRef(w, "--proxy-sidecar-for"));
  for (const w of [...workloads, ...proxyFor]) {
    if (w.kind === "pod" || w.kind === "job") throw new UsageError(`'${w.kind}/${w.name}' cannot be migrated: a ${w.kind === "pod" ? "pod's" : "Job's"} template cannot change`, "Name a deployment, statefulset, daemonset or cronjob.");
  }
  const identity = o.identity !== undefined ? checkKubeName("--identity", o.identity) : undefined;
  // What can be refused without Azure or the cluster is, before their clients load.
  const kubeOptions = { kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace !== undefined ? checkNamespace(o.namespace) : undefined };
  azureTarget({ cloud: o.cloud, subscription: o.subscription });
  const { ClusterService } = await import("../azure/clusters.js");
  const { openKubeSession } = await import("../kube/session.js");
  const { lookUpCluster } = await import("../core/cluster-lookup.js");
  const kube = openKubeSession(kubeOptions);
  const azure = await openAzure(o);
  const cluster = await lookUpCluster(new ClusterService(azure), { name: o.cluster, resourceGroup: o.resourceGroup }, { contextName: kube.config.getCurrentContext() });
  return {
    kube,
    azure,
    cluster: { name: cluster.name, resourceGroup: cluster.resourceGroup },
    scope: {
      namespace: o.allNamespaces ? undefined : kube.namespace,
      identity,
      workloads,
      proxySidecarAll: Boolean(o.proxySidecar),
      proxySidecarFor: proxyFor,
    },
    podidVersion: PACKAGE_VERSION,
    enableWorkloadIdentity: Boolean(o.enableWorkloadIdentity),
    timeoutMs: timeout * 1000,
    progress: ctx.progress,
  };
}


export function configureMigrate(migrate: Command): void {
  withProxy(withScope(migrate.command("plan").description("Show how each workload on pod identity moves to workload identity, and what blocks it (only reads).")))
    .addHelpText(
      "after",
      `
The -o json plan is a stable schema (docs/migrate.md).

Examples:
  The plan for every namespace, as a table of workloads:
    podid migrate plan -A -o table
  One identity's workloads, with the proxy sidecar for an app that only speaks IMDS:
    podid migrate plan --namespace team-a --identity web-id --proxy-sidecar-for deployment/legacy`,
    )
    .action(
      action<MigrateOptions>(async (o, ctx) => {
        const mc = await context(o, ctx);
        const { loadPlan } = await import("../core/migrate/load.js");
        const { planRows } = await import("../core/migrate/status.js");
        const { plan } = await loadPlan(mc);
        plan.blockers.forEach((b) => ctx.logger.warn(`blocked: ${b.message}. Fix: ${b.remedy}`));
        plan.warnings.forEach((w) => ctx.logger.warn(w));
        return present(plan, { table: planRows });
      }),
    );

  withTimeout(withWriteOptions(withProxy(withScope(migrate.command("apply").description("Federated credentials, ServiceAccounts and pod templates for workload identity, with pod identity kept; then verify each workload.")))))
    .option("--enable-workload-identity", "First switch on the cluster's OIDC issuer and workload identity, as az aks update --enable-oidc-issuer --enable-workload-identity does (the issuer cannot be switched off again).")
    .addHelpText(
      "after",
      `
Every phase is idempotent: re-running finishes what an interrupted run began, and says unchanged for what is done.
A workload whose new pods do not get a token through workload identity is put back on pod identity, with why.

Examples:
  Move every workload in the namespace team-a:
    podid migrate apply --namespace team-a
  The manifests it would apply, for GitOps (Azure changes as comments):
    podid migrate apply --namespace team-a --dry-run -o yaml`,
    )
    .action(
      action<MigrateOptions>(async (o, ctx) => {
        const mc = await context(o, ctx);
        const { applyMigration } = await import("../core/migrate/apply.js");
        const result = await applyMigration(mc, { dryRun: Boolean(o.dryRun) });
        result.warnings.forEach((w) => ctx.logger.warn(w));
        for (const b of result.blocked) ctx.logger.warn(`${b.ref} in ${b.namespace} is not migrated: ${b.blockers.join("; ")}`);
        if (result.failed.length) {
          ctx.print(writeResult({ ...result, dryRun: Boolean(o.dryRun) }));
          const { renderError } = await import("../cli/render-error.js");
          process.exitCode = renderError(
            new MigrateError(MigrateCode.VerificationFailed, `${result.failed.map((f) => `${f.ref} in ${f.namespace}`).join(", ")} did not get a token through workload identity and ${result.failed.length === 1 ? "is" : "are"} on pod identity: ${result.failed.map((f) => f.reason).join("; ")}`, {
              remedy: "Fix the cause, then run podid migrate apply again (podid migrate status shows where each workload stands).",
            }),
            { debug: ctx.globals.debug },
          );
          return undefined;
        }
        return writeResult({ ...result, dryRun: Boolean(o.dryRun) });
      }),
    );

  withScope(migrate.command("status").description("Where each workload stands: pod identity only, both, workload identity verified, finished."))
    .addHelpText("after", "\nExample:\n  podid migrate status -A -o table")
    .action(
      action<MigrateOptions>(async (o, ctx) => {
        const mc = await context(o, ctx);
        const { migrationStatus } = await import("../core/migrate/status.js");
        return migrationStatus(mc);
      }),
    );

  withTimeout(withWriteOptions(withScope(migrate.command("finish").description("For verified workloads: remove their aadpodidbinding labels, then the bindings and AzureIdentities nothing uses; MIC releases the scale sets."))))
    .addHelpText("after", "\nThe identities and their Azure role assignments stay: the workloads use them.\n\nExample:\n  podid migrate finish --namespace team-a --yes")
    .action(
      action<MigrateOptions>(async (o, ctx) => {
        const mc = await context(o, ctx);
        const { finishMigration } = await import("../core/migrate/finish.js");
        if (!o.dryRun) await confirm(ctx, `take pod identity away from the verified workloads in ${mc.scope.namespace ? `namespace ${mc.scope.namespace}` : "all namespaces"}`, Boolean(o.yes));
        const result = await finishMigration(mc, { dryRun: Boolean(o.dryRun) });
        for (const n of result.notFinished) ctx.logger.warn(`${n.ref} in ${n.namespace} is not finished: ${n.reason}`);
        if (result.next) ctx.logger.warn(result.next);
        return writeResult(result);
      }),
    );

  withTimeout(withWriteOptions(withScope(migrate.command("rollback").description("Put workloads back on pod identity and remove the credentials, ServiceAccounts and annotations podid added."))))
    .addHelpText("after", "\nExample:\n  podid migrate rollback --namespace team-a --workload deployment/web --yes")
    .action(
      action<MigrateOptions>(async (o, ctx) => {
        const mc = await context(o, ctx);
        const { rollbackMigration } = await import("../core/migrate/rollback.js");
        if (!o.dryRun) await confirm(ctx, `put the workloads in ${mc.scope.namespace ? `namespace ${mc.scope.namespace}` : "all namespaces"} back on pod identity`, Boolean(o.yes));
        const result = await rollbackMigration(mc, { dryRun: Boolean(o.dryRun) });
        for (const i of result.interrupted) ctx.logger.warn(`${i.ref} in ${i.namespace} was ${i.state}: rollback puts it back on pod identity`);
        return writeResult(result);
      }),
    );
}
