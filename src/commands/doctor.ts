import { Option, type Command } from "commander";
import { action } from "../cli/action.js";
import { UsageError } from "../errors/index.js";
import { refuseOldNamespaceFlag, withAzureOptions, withKubeOptions, type AzureOptions, type KubeOptions } from "../cli/options.js";
import { present } from "../cli/presented.js";
import { PACKAGE_VERSION } from "../util/package-info.js";
import { flagDuration } from "../cli/flags.js";
import { checkKubeName, checkNamespace } from "../core/validate.js";
import type { DoctorReport } from "../core/doctor/model.js";
import { doctorExitCode, formatDoctorText } from "../core/doctor/text.js";

type DoctorOptions = AzureOptions &
  KubeOptions & { allNamespaces?: boolean; identity?: string; pod?: string; probe?: boolean; cluster?: string; resourceGroup?: string; stuckAfter?: string };

export function configureDoctor(cmd: Command): void {
  refuseOldNamespaceFlag(withAzureOptions(withKubeOptions(cmd)))
    .option("-A, --all-namespaces", "Check every namespace (without it: --namespace, else the context's namespace).")
    .option("--identity <name>", "Only this AzureIdentity, its bindings and their pods.")
    .option("--pod <pod>", "Only this pod (with --probe: the pod to request a token for).")
    .option("--probe", "Also request a token for --pod through its node's NMI.")
    .option("--cluster <name>", "AKS cluster (default: the one whose node resource group holds the nodes).")
    .option("-g, --resource-group <group>", "Resource group of the cluster.")
    .addOption(new Option("--stuck-after <duration>", "Report an AzureAssignedIdentity not Assigned for longer than this (e.g. 90s, 5m).").default("2m", "2m"))
    .addHelpText(
      "after",
      `
Exit codes: 0 all checks ok (or skipped), 4 warnings only, 5 at least one check failed; 1-3 as for every command.
The -o json report is a stable schema (docs/doctor.md).

Examples:
  Check everything in all namespaces, as a report:
    podid doctor -A
  One identity in a namespace, machine-readable for CI:
    podid doctor --namespace team-a --identity web-id -o json
  The checks that fail, as a table:
    podid doctor -A -o table --query "checks[?status=='fail'].{check: id, findings: length(findings)}"`,
    )
    .action(
      action<DoctorOptions>(async (o, ctx) => {
        if (o.allNamespaces && o.namespace) throw new UsageError("--namespace and -A/--all-namespaces cannot be used together", "Pass one of them.");
        if (o.probe && !o.pod) throw new UsageError("--probe needs --pod POD", "Name the pod to request a token for, e.g. --probe --pod web-0 --namespace team-a.");
        const namespaceFlag = o.namespace !== undefined ? checkNamespace(o.namespace) : undefined;
        const identity = o.identity !== undefined ? checkKubeName("--identity", o.identity) : undefined;
        const pod = o.pod !== undefined ? checkKubeName("--pod", o.pod) : undefined;
        const stuckAfterMs = flagDuration("stuck-after", o.stuckAfter ?? "2m");
        const { openAzureSession } = await import("../azure/session.js");
        const { openKubeSession } = await import("../kube/session.js");
        const { DoctorContext } = await import("../core/doctor/context.js");
        const { runDoctor } = await import("../core/doctor/runner.js");
        const { CHECKS } = await import("../core/doctor/checks/index.js");
        const doctorCtx = new DoctorContext({
          scope: {
            // kubectl's rule: --namespace, else the context's namespace; -A for all.
            namespace: o.allNamespaces ? undefined : namespaceFlag ?? (await contextNamespace(o)),
            identity,
            pod,
            probe: Boolean(o.probe),
          },
          openKube: () => openKubeSession({ kubeconfig: o.kubeconfig, context: o.context, namespace: namespaceFlag }),
          openAzure: () => openAzureSession({ cloud: o.cloud, subscription: o.subscription }),
          cluster: { name: o.cluster, resourceGroup: o.resourceGroup },
          stuckAfterMs,
        });
        ctx.progress.begin(`running ${CHECKS.length} checks`);
        const report = await runDoctor(CHECKS, doctorCtx, { podidVersion: PACKAGE_VERSION, progress: ctx.progress });
        process.exitCode = doctorExitCode(report);
        // The report as people read it unless -o is given; --query asks the -o json schema (docs/doctor.md).
        return present(report, { text: formatDoctorText, table: tableRows });
      }),
    );
}

/** The context's namespace, or "default"; when the kubeconfig cannot be read, the cluster check says so. */
async function contextNamespace(o: DoctorOptions): Promise<string> {
  const { openKubeSession } = await import("../kube/session.js");
  try {
    return openKubeSession({ kubeconfig: o.kubeconfig, context: o.context }).namespace;
  } catch {
    return "default";
  }
}

/** `-o table`: one row per check. */
function tableRows(report: DoctorReport) {
  return report.checks.map((c) => ({
    status: c.status,
    check: c.id,
    findings: c.findings.length,
    summary: c.status === "skipped" ? (c.reason ?? "") : c.findings.map((f) => f.message).join(" | "),
  }));
}
