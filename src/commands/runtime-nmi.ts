import type { Command } from "commander";
import { flagBool, flagNumber, flagPort } from "../cli/flags.js";
import { UsageCode, UsageError } from "../errors/index.js";
import { NMI_FLAG_DEFAULTS, NmiFlag } from "../aadpodidentity/contract/names.js";
import { FORCE_NAMESPACED_ENV, namespacedMode } from "../aadpodidentity/contract/namespaced-mode.js";
import { action } from "../cli/action.js";
import { createLogger } from "../util/logger.js";

interface NmiFlags {
  node?: string;
  nmiListenAddress?: string;
  nmiPort: string;
  metadataIp: string;
  metadataPort: string;
  hostIp?: string;
  iptUpdateIntervalSec: string;
  forceNamespaced?: string | boolean;
  MICNamespace: string;
  allowExceptionPodIdentities?: string | boolean;
  httpProbePort: string;
  retryAttemptsForCreated: string;
  retryAttemptsForAssigned: string;
  findIdentityRetryInterval: string;
  blockInstanceMetadata?: string | boolean;
  metadataHeaderRequired?: string | boolean;
  prometheusPort: string;
  allowNetworkPluginKubenet?: string | boolean;
  networkPlugin?: string;
  kubeletConfig: string;
  setRetryAfterHeader?: string | boolean;
  kubeconfig?: string;
  manageIptables?: string | boolean;
}

/** Options of `podid runtime nmi` (upstream-compatible flag names); the component is in src/runtime/nmi/. */
export function configureNmi(cmd: Command): void {
  cmd
    .option("--node <name>", "This node's name (default: NODE_NAME).")
    .option(`--${NmiFlag.listenAddress} <ip>`, "Address the token server listens on (default: --host-ip, else 127.0.0.1).")
    .option(`--${NmiFlag.port} <port>`, "Port of the token server.", String(NMI_FLAG_DEFAULTS.port))
    .option("--metadata-ip <ip>", "The instance metadata address pods call.", NMI_FLAG_DEFAULTS.metadataIp)
    .option("--metadata-port <port>", "The instance metadata port.", String(NMI_FLAG_DEFAULTS.metadataPort))
    .option(`--${NmiFlag.hostIp} <ip>`, "Address pods' metadata traffic is DNAT'ed to (default: the listen address; 0.0.0.0 means 127.0.0.1).")
    .option("--ipt-update-interval-sec <seconds>", "How often the iptables rules are checked and repaired.", "60")
    .option(`--${NmiFlag.forceNamespaced} [bool]`, "Match identities only within the pod's namespace (also on with FORCENAMESPACED=true).")
    .option(`--${NmiFlag.micNamespace} <namespace>`, "Namespace podid installed MIC in: pods of its podid-mic Deployment there keep the node's identity.", NMI_FLAG_DEFAULTS.micNamespace)
    .option("--allow-exception-pod-identities [bool]", "Let exempt pods (AzurePodIdentityException, MIC) take identities that AzureIdentities name, as upstream does (default: false).")
    .option(`--${NmiFlag.httpProbePort} <port>`, "Port of the /healthz probe (0: none).", String(NMI_FLAG_DEFAULTS.httpProbePort))
    .option(`--${NmiFlag.retryAttemptsForCreated} <n>`, "Intervals to wait for an AzureAssignedIdentity to be created.", String(NMI_FLAG_DEFAULTS.retryAttemptsForCreated))
    .option(`--${NmiFlag.retryAttemptsForAssigned} <n>`, "Further intervals to wait for it to be Assigned.", String(NMI_FLAG_DEFAULTS.retryAttemptsForAssigned))
    .option(`--${NmiFlag.findIdentityRetryInterval} <seconds>`, "The interval of both waits (the wait itself ends as soon as the identity is Assigned).", String(NMI_FLAG_DEFAULTS.findIdentityRetryIntervalSec))
    .option("--block-instance-metadata [bool]", "Answer /metadata/instance with 403 instead of proxying it.")
    .option("--metadata-header-required [bool]", "Require the Metadata: true header (default: true).")
    .option(`--${NmiFlag.prometheusPort} <port>`, "Port of /metrics (0: none).", String(NMI_FLAG_DEFAULTS.prometheusPort))
    .option(`--${NmiFlag.allowKubenet} [bool]`, "Run even on kubenet, where pods can reach the real IMDS around NMI.")
    .option("--network-plugin <name>", "The node's network plugin, when /etc/default/kubelet does not say it (kubenet is refused).")
    .option("--kubelet-config <file>", "The kubelet defaults file searched for --network-plugin=kubenet.", "/etc/default/kubelet")
    .option("--set-retry-after-header [bool]", "Answer 'not assigned yet' with 503 and Retry-After: 20 instead of 404.")
    .option("--kubeconfig <file>", "Kubeconfig (default: KUBECONFIG, else in-cluster).")
    .option("--manage-iptables [bool]", "Install the iptables redirect (default: true); false where something else sends pods' metadata traffic here.")
    .addHelpText("after", "\nExample:\n  podid runtime nmi --node aks-nodepool1-12345678-vmss000000 --http-probe-port 8085")
    .action(
      action<NmiFlags>(async (flags, ctx) => {
        const node = flags.node ?? process.env.NODE_NAME ?? "";
        if (!node) throw new UsageError("NMI needs the node name", "Pass --node or set NODE_NAME (the manifests set it from spec.nodeName).", UsageCode.NodeNameMissing);
        const hostIp = flags.hostIp;
        const listenAddress = flags.nmiListenAddress ?? hostIp ?? NMI_FLAG_DEFAULTS.listenAddress;
        const probe = flagPort("http-probe-port", flags.httpProbePort);
        const prometheus = flagPort("prometheus-port", flags.prometheusPort);
        const { runNmi } = await import("../runtime/nmi/main.js");
        await runNmi({
          options: {
            node,
            listenAddress,
            port: flagPort("nmi-port", flags.nmiPort),
            metadataIp: flags.metadataIp,
            metadataPort: flagPort("metadata-port", flags.metadataPort),
            hostIp,
            iptUpdateIntervalSec: flagNumber("ipt-update-interval-sec", flags.iptUpdateIntervalSec, { min: 1 }),
            forceNamespaced: namespacedMode(flagBool(NmiFlag.forceNamespaced, flags.forceNamespaced, false), process.env[FORCE_NAMESPACED_ENV]),
            micNamespace: flags.MICNamespace,
            allowExceptionPodIdentities: flagBool("allow-exception-pod-identities", flags.allowExceptionPodIdentities, false),
            httpProbePort: probe === 0 ? undefined : probe,
            retryAttemptsForCreated: flagNumber("retry-attempts-for-created", flags.retryAttemptsForCreated),
            retryAttemptsForAssigned: flagNumber("retry-attempts-for-assigned", flags.retryAttemptsForAssigned),
            findIdentityRetryIntervalSec: flagNumber("find-identity-retry-interval", flags.findIdentityRetryInterval, { integer: false }),
            blockInstanceMetadata: flagBool("block-instance-metadata", flags.blockInstanceMetadata, false),
            metadataHeaderRequired: flagBool("metadata-header-required", flags.metadataHeaderRequired, true),
            prometheusPort: prometheus === 0 ? undefined : prometheus,
            setRetryAfterHeader: flagBool("set-retry-after-header", flags.setRetryAfterHeader, false),
            iptables: flagBool("manage-iptables", flags.manageIptables, true),
            ...(process.env.NMI_POD_NAME && process.env.NMI_POD_NAMESPACE ? { ownPod: { name: process.env.NMI_POD_NAME, namespace: process.env.NMI_POD_NAMESPACE } } : {}),
          },
          kubeconfig: flags.kubeconfig,
          allowKubenet: flagBool("allow-network-plugin-kubenet", flags.allowNetworkPluginKubenet, false),
          networkPlugin: flags.networkPlugin,
          kubeletConfig: flags.kubeletConfig,
          logger: createLogger(ctx.logger.level, undefined, "nmi: "),
        });
      }),
    );
}
