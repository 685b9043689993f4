import type { KubeObject } from "../kube/index.js";
import type { EnvFromSource, EnvVar } from "./env.js";
import type { Volume, VolumeMount } from "./pod-files.js";
import type { ContainerPort, ProbeSpec } from "./probes.js";

/** A pod as the kubelet reads it, and the node it runs on. */

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: ContainerPort[];
  readinessProbe?: ProbeSpec;
  livenessProbe?: ProbeSpec;
  startupProbe?: ProbeSpec;
  volumeMounts?: VolumeMount[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsUser?: number; privileged?: boolean; capabilities?: { add?: string[]; drop?: string[] } };
  lifecycle?: { postStart?: { exec?: { command?: string[] } } };
}

export interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  restartPolicy?: "Always" | "OnFailure" | "Never";
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  volumes?: Volume[];
  securityContext?: { runAsUser?: number };
}

export type Pod = KubeObject & { spec: PodSpec; status?: Record<string, unknown> };

export interface NodeRuntime {
  name: string;
  hostIP: string;
  /** The node's IMDS (what host-network pods reach as 169.254.169.254). */
  imds: string;
  /** The node's 169.254.169.254 for pods on the pod network (see metadata-address.ts). */
  metadata: string;
  /** The node's recorded nat table, which its host-network pods' `iptables` changes (see netfilter.ts). */
  natTable: string;
  /** Where the node's hostPath volumes live. */
  root: string;
}
