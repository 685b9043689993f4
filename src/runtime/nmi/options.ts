import { NMI_FLAG_DEFAULTS } from "../../aadpodidentity/contract/names.js";

/** NMI's settings, named after upstream's flags (see src/commands/runtime-nmi.ts for the flag spellings). */
export interface NmiOptions {
  /** This node's name: only its pods and its AzureAssignedIdentities are watched. */
  node: string;
  /** Where the token server listens; the DNAT target defaults to it (0.0.0.0 -> 127.0.0.1, as upstream). */
  listenAddress: string;
  /** 0 picks a free port (tests). */
  port: number;
  metadataIp: string;
  metadataPort: number;
  /** The address pods' metadata traffic is DNAT'ed to; defaults to the listen address. */
  hostIp?: string;
  iptUpdateIntervalSec: number;
  forceNamespaced: boolean;
  /** The install namespace: MIC's pods are those of the podid-mic Deployment here (see isMicPod). */
  micNamespace: string;
  /**
   * Upstream's behaviour for exempt pods (exceptions, MIC): any identity on the node. Off: an exempt pod is refused
   * an identity that an AzureIdentity names, unless it is assigned to that pod.
   */
  allowExceptionPodIdentities: boolean;
  /** Separate /healthz listener (upstream 8080, manifests 8085); undefined: none (/healthz is on the main port too). */
  httpProbePort?: number;
  retryAttemptsForCreated: number;
  retryAttemptsForAssigned: number;
  /** Seconds; fractions are allowed (tests). */
  findIdentityRetryIntervalSec: number;
  blockInstanceMetadata: boolean;
  metadataHeaderRequired: boolean;
  /** Prometheus /metrics listener; undefined: none (/metrics is on the main port too). */
  prometheusPort?: number;
  setRetryAfterHeader: boolean;
  /** Install the iptables redirect (the CLI does; in-process tests do not). */
  iptables: boolean;
  /** This NMI's pod (from the downward API): whether its DaemonSet stays decides if the redirect outlives it. */
  ownPod?: { namespace: string; name: string };
}

export const NMI_DEFAULTS: Omit<NmiOptions, "node"> = {
  listenAddress: NMI_FLAG_DEFAULTS.listenAddress,
  port: NMI_FLAG_DEFAULTS.port,
  metadataIp: NMI_FLAG_DEFAULTS.metadataIp,
  metadataPort: NMI_FLAG_DEFAULTS.metadataPort,
  iptUpdateIntervalSec: 60,
  forceNamespaced: false,
  micNamespace: NMI_FLAG_DEFAULTS.micNamespace,
  allowExceptionPodIdentities: false,
  retryAttemptsForCreated: NMI_FLAG_DEFAULTS.retryAttemptsForCreated,
  retryAttemptsForAssigned: NMI_FLAG_DEFAULTS.retryAttemptsForAssigned,
  findIdentityRetryIntervalSec: NMI_FLAG_DEFAULTS.findIdentityRetryIntervalSec,
  blockInstanceMetadata: false,
  metadataHeaderRequired: true,
  setRetryAfterHeader: false,
  iptables: false,
};

/** Upstream's Retry-After value when --set-retry-after-header is on. */
export const RETRY_AFTER_SECONDS = 20;
