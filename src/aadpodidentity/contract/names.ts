/**
 * The runtime contract's names: what podid's manifests install, what MIC and NMI are told by their flags, and what
 * doctor looks for — one home, so that a name changed here changes for all of them (templates/install/ carries the
 * same values; test/unit/render.test.ts holds the two together).
 */

/** Where `podid install` puts MIC, NMI and the exceptions. */
export const INSTALL_NAMESPACE = "kube-system";

/** Labels on podid's workloads and their pods. */
export const NAME_LABEL = "app.kubernetes.io/name";
export const NAME_LABEL_VALUE = "podid";
export const COMPONENT_LABEL = "app.kubernetes.io/component";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_PODID = "podid";

export type Component = "mic" | "nmi";

/** The Deployment MIC runs as, and the DaemonSet NMI runs as (upstream names them mic and nmi). */
export const MIC_DEPLOYMENT_NAME = "podid-mic";
export const NMI_DAEMONSET_NAME = "podid-nmi";
export const WORKLOAD_NAMES: Record<Component, { podid: string; upstream: string }> = {
  mic: { podid: MIC_DEPLOYMENT_NAME, upstream: "mic" },
  nmi: { podid: NMI_DAEMONSET_NAME, upstream: "nmi" },
};

/** `kubectl -l` selector of one component's pods, as doctor's fix commands write it. */
export const componentSelector = (component: Component): string => `${COMPONENT_LABEL}=${component}`;

/** The exceptions podid installs: MIC itself, and the AKS add-ons (which carry AKS_ADDON_LABEL=aks). */
export const MIC_EXCEPTION_NAME = "podid-mic-exception";
export const AKS_ADDON_EXCEPTION_NAME = "aks-addon-exception";
export const AKS_ADDON_LABEL = "kubernetes.azure.com/managedby";
export const AKS_ADDON_LABEL_VALUE = "aks";

/** The flags MIC and NMI share with upstream's, as manifests pass them and doctor reads them back. */
export const MicFlag = {
  forceNamespaced: "forceNamespaced",
  leaderElectionNamespace: "leader-election-namespace",
  leaderElectionName: "leader-election-name",
  httpProbePort: "http-probe-port",
  prometheusPort: "prometheus-port",
} as const;

export const NmiFlag = {
  forceNamespaced: "forceNamespaced",
  micNamespace: "MICNamespace",
  listenAddress: "nmi-listen-address",
  port: "nmi-port",
  hostIp: "host-ip",
  httpProbePort: "http-probe-port",
  prometheusPort: "prometheus-port",
  allowKubenet: "allow-network-plugin-kubenet",
  retryAttemptsForCreated: "retry-attempts-for-created",
  retryAttemptsForAssigned: "retry-attempts-for-assigned",
  findIdentityRetryInterval: "find-identity-retry-interval",
} as const;

/** MIC's defaults (upstream's): the leader Lease and the probe and metrics ports. */
export const MIC_FLAG_DEFAULTS = {
  leaderElectionNamespace: "default",
  leaderElectionName: "aad-pod-identity-mic",
  httpProbePort: 8080,
  prometheusPort: 8888,
} as const;

/** NMI's defaults (upstream's): where it serves tokens, and how long it waits for MIC. */
export const NMI_FLAG_DEFAULTS = {
  listenAddress: "127.0.0.1",
  port: 2579,
  metadataIp: "169.254.169.254",
  metadataPort: 80,
  micNamespace: "default",
  httpProbePort: 8080,
  prometheusPort: 9090,
  retryAttemptsForCreated: 16,
  retryAttemptsForAssigned: 4,
  findIdentityRetryIntervalSec: 5,
} as const;

/** Upstream's iptables chain in the nat table, jumped to from the top of PREROUTING: NMI's redirect of pods' metadata traffic. */
export const METADATA_CHAIN = "aad-metadata";

/** What removes NMI's redirect from a node by hand (as root), where no NMI did it on its way out. */
export const REMOVE_REDIRECT_COMMANDS = `iptables -t nat -D PREROUTING -j ${METADATA_CHAIN}; iptables -t nat -F ${METADATA_CHAIN}; iptables -t nat -X ${METADATA_CHAIN}`;
