// The workload kinds `--label KIND/NAME` names, apart from what binding does with them: help texts need them
// without loading the Kubernetes client.
import { UsageCode, UsageError } from "../errors/index.js";
import { checkKubeName } from "./validate.js";

/** Where each workload kind keeps the labels its pods get, and the names kubectl knows it by. */
export const WORKLOADS: Record<string, { apiVersion: string; kind: string; path: string[]; shortNames: string[] }> = {
  deployment: { apiVersion: "apps/v1", kind: "Deployment", path: ["spec", "template", "metadata", "labels"], shortNames: ["deploy"] },
  statefulset: { apiVersion: "apps/v1", kind: "StatefulSet", path: ["spec", "template", "metadata", "labels"], shortNames: ["sts"] },
  daemonset: { apiVersion: "apps/v1", kind: "DaemonSet", path: ["spec", "template", "metadata", "labels"], shortNames: ["ds"] },
  job: { apiVersion: "batch/v1", kind: "Job", path: ["spec", "template", "metadata", "labels"], shortNames: [] },
  cronjob: { apiVersion: "batch/v1", kind: "CronJob", path: ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], shortNames: ["cj"] },
  pod: { apiVersion: "v1", kind: "Pod", path: ["metadata", "labels"], shortNames: ["po"] },
};

/** For help texts: the kinds --label takes, with their short names. */
export const WORKLOAD_KINDS_HELP = `${Object.entries(WORKLOADS)
  .map(([kind, w]) => (w.shortNames.length ? `${kind} (${w.shortNames.join(", ")})` : kind))
  .join(", ")}; plurals and KIND.GROUP as kubectl takes them`;

export interface WorkloadRef {
  kind: keyof typeof WORKLOADS;
  name: string;
}

/** The workload kind a kubectl resource word names: kind, plural or short name, optionally with its group (`deployments.apps`). */
function workloadKind(word: string): string | undefined {
  const [type, ...qualifier] = word.toLowerCase().split(".");
  const kind = Object.keys(WORKLOADS).find((k) => type === k || type === `${k}s` || WORKLOADS[k].shortNames.includes(type));
  if (!kind) return undefined;
  const [group, version] = WORKLOADS[kind].apiVersion.includes("/") ? WORKLOADS[kind].apiVersion.split("/") : ["", WORKLOADS[kind].apiVersion];
  const allowed = [[], group ? [group] : [version], [version, group].filter(Boolean)].map((q) => q.join("."));
  return allowed.includes(qualifier.join(".")) ? kind : undefined;
}

/** Parses `--label KIND/NAME` as kubectl takes it: `deployment/x`, `deploy/x`, `sts/x`, `cronjobs.batch/x`, ... */
export function parseWorkloadRef(value: string, flag = "--label"): WorkloadRef {
  const m = /^([A-Za-z][A-Za-z0-9.-]*)\/(.+)$/.exec(value);
  const kind = m ? workloadKind(m[1]) : undefined;
  if (!m || !kind) {
    throw new UsageError(`${flag} '${value}' is not KIND/NAME of a workload`, `KIND is one of ${WORKLOAD_KINDS_HELP}; e.g. ${flag} deployment/my-app or ${flag} sts/db.`, UsageCode.InvalidWorkload);
  }
  return { kind, name: checkKubeName("workload name", m[2]) };
}

/** Each `--label` parsed; one workload named two ways (`sts/db`, `statefulsets.apps/db`) is one. */
export function parseWorkloadRefs(values: readonly string[], flag = "--label"): WorkloadRef[] {
  const refs = new Map<string, WorkloadRef>();
  for (const value of values) {
    const ref = parseWorkloadRef(value, flag);
    refs.set(`${ref.kind}/${ref.name}`, ref);
  }
  return [...refs.values()];
}
