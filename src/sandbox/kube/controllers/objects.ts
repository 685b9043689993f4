import type { LabelSelector } from "../selectors.js";
import type { KubeObject } from "../types.js";

/** The shapes the workload controllers read: only the fields they use, as the API serves them (JSON). */

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
  lastProbeTime?: string | null;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface PreferredAntiAffinityTerm {
  weight: number;
  podAffinityTerm: { labelSelector?: LabelSelector; topologyKey: string };
}

export interface PodSpec {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  affinity?: { podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution?: PreferredAntiAffinityTerm[] } };
  schedulerName?: string;
  hostname?: string;
  subdomain?: string;
  restartPolicy?: string;
  [field: string]: unknown;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: PodSpec;
}

export type Pod = KubeObject & { spec?: PodSpec; status?: { phase?: string; conditions?: Condition[] } };

export type Node = KubeObject & { spec?: { taints?: Taint[]; unschedulable?: boolean } };

interface WorkloadSpec {
  replicas?: number;
  selector?: LabelSelector;
  template: PodTemplate;
}

export type Deployment = KubeObject & {
  spec: WorkloadSpec & { strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } } };
  status?: { conditions?: Condition[] };
};

export type ReplicaSet = KubeObject & { spec: WorkloadSpec };

export type DaemonSet = KubeObject & {
  spec: WorkloadSpec & { updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } } };
};

export type StatefulSet = KubeObject & {
  spec: WorkloadSpec & {
    serviceName?: string;
    podManagementPolicy?: "OrderedReady" | "Parallel";
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  status?: { currentRevision?: string };
};

export interface JobSpec {
  parallelism?: number;
  completions?: number;
  backoffLimit?: number;
  suspend?: boolean;
  activeDeadlineSeconds?: number;
  template: PodTemplate;
}

export type Job = KubeObject & {
  spec: JobSpec;
  status?: { startTime?: string; completionTime?: string; conditions?: Condition[]; succeeded?: number; failed?: number };
};

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion?: string;
}

export type CronJob = KubeObject & {
  spec: {
    schedule: string;
    timeZone?: string;
    startingDeadlineSeconds?: number;
    concurrencyPolicy?: "Allow" | "Forbid" | "Replace";
    suspend?: boolean;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: JobSpec };
  };
  status?: { active?: ObjectReference[]; lastScheduleTime?: string; lastSuccessfulTime?: string };
};

export const KINDS = {
  pod: { apiVersion: "v1", kind: "Pod" },
  node: { apiVersion: "v1", kind: "Node" },
  deployment: { apiVersion: "apps/v1", kind: "Deployment" },
  replicaSet: { apiVersion: "apps/v1", kind: "ReplicaSet" },
  daemonSet: { apiVersion: "apps/v1", kind: "DaemonSet" },
  statefulSet: { apiVersion: "apps/v1", kind: "StatefulSet" },
  job: { apiVersion: "batch/v1", kind: "Job" },
  cronJob: { apiVersion: "batch/v1", kind: "CronJob" },
} as const;
