import { UsageCode, UsageError } from "../errors/index.js";
import type { AzurePodIdentityException } from "../aadpodidentity/types.js";
import { listAadPodIdentity } from "./preflight.js";
import type { KubeSession } from "../kube/session.js";
import { checkLabelValue } from "./validate.js";

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Parses `k=v[,k=v]` into pod labels, each key and value checked as Kubernetes checks labels. */
export function parsePodLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of value.split(",").map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--pod-labels '${pair}' is not key=value`, "For example: --pod-labels app=coredns,tier=system.", UsageCode.InvalidPodLabels);
    const key = pair.slice(0, at);
    if (!LABEL_KEY.test(key)) throw new UsageError(`--pod-labels key '${key}' is not a valid label key`, "Use letters, digits, '-', '_' and '.', with an optional DNS prefix and '/'.", UsageCode.InvalidPodLabels);
    labels[key] = checkLabelValue(`--pod-labels value for ${key}`, pair.slice(at + 1));
  }
  if (!Object.keys(labels).length) throw new UsageError("--pod-labels is empty", "Give at least one key=value.", UsageCode.InvalidPodLabels);
  return labels;
}

export async function listExceptions(kube: KubeSession, namespace?: string): Promise<{ name: string; namespace: string; podLabels: Record<string, string> }[]> {
  const items = await listAadPodIdentity<AzurePodIdentityException>(kube, "AzurePodIdentityException", namespace);
  return items.map((e) => ({ name: e.metadata.name, namespace: e.metadata.namespace ?? "", podLabels: e.spec?.podLabels ?? {} }));
}
