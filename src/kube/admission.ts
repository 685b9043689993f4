import { AuthorizationV1Api, type V1Pod } from "@kubernetes/client-node";
import { KubernetesCode } from "../errors/index.js";
import { fromKubeError, kubeStatus } from "./errors.js";
import { FIELD_MANAGER, type KubeSession } from "./session.js";

/**
 * Whether the API server would admit a pod as a controller would create it now: a create with `dryRun=All` goes
 * through admission (mutating and validating webhooks, the ServiceAccount and PodSecurity plugins) and validation,
 * and stores nothing. A refusal is in the API server's words. Who may not create pods cannot ask (a controller's
 * ServiceAccount creates them, not the user): then it is not known.
 */
export type PodAdmission = { admitted: true } | { admitted: false; reason: string } | { admitted: "unknown"; reason: string };

async function mayCreatePods(kube: KubeSession, namespace: string): Promise<boolean> {
  try {
    const review = await kube.config.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace, verb: "create", resource: "pods" } } } });
    return review.status?.allowed === true;
  } catch (err) {
    throw fromKubeError(err, `asking whether pods may be created in ${namespace}`, kube.server);
  }
}

export async function podAdmission(kube: KubeSession, pod: V1Pod & { metadata: { namespace: string } }): Promise<PodAdmission> {
  const namespace = pod.metadata.namespace;
  if (!(await mayCreatePods(kube, namespace))) return { admitted: "unknown", reason: `your user may not create pods in ${namespace}, so the API server's admission of the new pods could not be asked in advance` };
  try {
    await kube.objects.create({ apiVersion: "v1", kind: "Pod", ...pod }, undefined, "All", FIELD_MANAGER);
    return { admitted: true };
  } catch (err) {
    const status = kubeStatus(err);
    const e = fromKubeError(err, `creating a pod in ${namespace} (dry run)`, kube.server);
    // No answer from the API server, or its answer about us rather than the pod: not a refusal of the pod.
    if (!status || e.code === KubernetesCode.KubernetesUnauthorized || e.code === KubernetesCode.ClusterUnreachable) throw e;
    return { admitted: false, reason: status.message ?? e.message };
  }
}
