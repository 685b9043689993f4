import type { Command } from "commander";
import { MIC_FLAG_DEFAULTS, MicFlag } from "../aadpodidentity/contract/names.js";
import { FORCE_NAMESPACED_ENV, namespacedMode } from "../aadpodidentity/contract/namespaced-mode.js";
import { action } from "../cli/action.js";
import { flagBool, flagDuration, flagList, flagNumber, flagPort } from "../cli/flags.js";
import { createLogger } from "../util/logger.js";

interface MicFlags {
  kubeconfig?: string;
  cloudconfig?: string;
  forceNamespaced?: string | boolean;
  syncRetryDuration: string;
  leaderElectionNamespace: string;
  leaderElectionName: string;
  leaderElectionDuration: string;
  leaderElectionInstance?: string;
  httpProbePort: string;
  prometheusPort: string;
  immutableUserMsis?: string;
  updateUserMsiMaxRetry: string;
  updateUserMsiRetryInterval: string;
  identityAssignmentReconcileInterval: string;
}

/** Options of `podid runtime mic` (upstream-compatible flag names); the component is in src/runtime/mic/. */
export function configureMic(cmd: Command): void {
  cmd
    .option("--kubeconfig <file>", "Kubeconfig (default: KUBECONFIG, else in-cluster).")
    .option("--cloudconfig <file>", "The node's azure.json (cloud, subscription, credential); without it, PODID_CLOUD, AZURE_SUBSCRIPTION_ID and the environment's credential.")
    .option(`--${MicFlag.forceNamespaced} [bool]`, "Match pods, bindings and identities only within one namespace (also on with FORCENAMESPACED=true).")
    .option("--syncRetryDuration <duration>", "Interval of the periodic full sync.", "3600s")
    .option(`--${MicFlag.leaderElectionNamespace} <namespace>`, "Namespace of the leader election Lease.", MIC_FLAG_DEFAULTS.leaderElectionNamespace)
    .option(`--${MicFlag.leaderElectionName} <name>`, "Name of the leader election Lease.", MIC_FLAG_DEFAULTS.leaderElectionName)
    .option("--leader-election-duration <duration>", "Lease duration; a leader that has not renewed for this long is replaced.", "15s")
    .option("--leader-election-instance <name>", "This instance's name in the Lease (default: the host name).")
    .option(`--${MicFlag.httpProbePort} <port>`, "Port of the /healthz probe (0: none).", String(MIC_FLAG_DEFAULTS.httpProbePort))
    .option(`--${MicFlag.prometheusPort} <port>`, "Port of /metrics (0: none).", String(MIC_FLAG_DEFAULTS.prometheusPort))
    .option("--immutable-user-msis <clientIds>", "Comma-separated client ids of identities never detached from scale sets.")
    .option("--update-user-msi-max-retry <n>", "Retries of an identity update after dropping the identities ARM refused.", "2")
    .option("--update-user-msi-retry-interval <duration>", "Wait before such a retry.", "1s")
    .option("--identity-assignment-reconcile-interval <duration>", "How often the scale sets are re-checked and identities removed by hand re-attached.", "3m")
    .addHelpText("after", "\nExample:\n  podid runtime mic --cloudconfig /etc/kubernetes/azure.json --leader-election-namespace kube-system")
    .action(
      action<MicFlags>(async (flags, ctx) => {
        const probe = flagPort("http-probe-port", flags.httpProbePort);
        const prometheus = flagPort("prometheus-port", flags.prometheusPort);
        const { runMic } = await import("../runtime/mic/main.js");
        await runMic({
          kubeconfig: flags.kubeconfig,
          cloudconfig: flags.cloudconfig,
          logger: createLogger(ctx.logger.level, undefined, "mic: "),
          options: {
            forceNamespaced: namespacedMode(flagBool(MicFlag.forceNamespaced, flags.forceNamespaced, false), process.env[FORCE_NAMESPACED_ENV]),
            immutableClientIds: flagList(flags.immutableUserMsis),
            updateUserMsiMaxRetry: flagNumber("update-user-msi-max-retry", flags.updateUserMsiMaxRetry),
            updateUserMsiRetryIntervalMs: flagDuration("update-user-msi-retry-interval", flags.updateUserMsiRetryInterval),
            armRetryBudgetMs: 120_000,
            syncRetryDurationMs: Math.max(1000, flagDuration("syncRetryDuration", flags.syncRetryDuration)),
            identityAssignmentReconcileIntervalMs: Math.max(1000, flagDuration("identity-assignment-reconcile-interval", flags.identityAssignmentReconcileInterval)),
            leaderElection: {
              namespace: flags.leaderElectionNamespace,
              name: flags.leaderElectionName,
              durationMs: Math.max(1000, flagDuration("leader-election-duration", flags.leaderElectionDuration)),
              identity: flags.leaderElectionInstance,
            },
            httpProbePort: probe === 0 ? undefined : probe,
            prometheusPort: prometheus === 0 ? undefined : prometheus,
          },
        });
      }),
    );
}
