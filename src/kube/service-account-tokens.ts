import { CoreV1Api } from "@kubernetes/client-node";
import { fromKubeError } from "./errors.js";
import type { KubeSession } from "./session.js";

/** The shortest lifetime the API server issues (TokenRequest's minimum). */
const MIN_EXPIRATION_SECONDS = 600;

/**
 * A ServiceAccount token from the API server's TokenRequest (what `kubectl create token` and the kubelet ask for),
 * optionally bound to a pod as the kubelet binds projected tokens. The caller uses it at once and drops it.
 */
export async function requestServiceAccountToken(
  kube: KubeSession,
  namespace: string,
  serviceAccount: string,
  options: { audience: string; pod?: { name: string; uid: string } },
): Promise<string> {
  try {
    const answer = await kube.config.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      namespace,
      name: serviceAccount,
      body: {
        spec: {
          audiences: [options.audience],
          expirationSeconds: MIN_EXPIRATION_SECONDS,
          ...(options.pod ? { boundObjectRef: { apiVersion: "v1", kind: "Pod", name: options.pod.name, uid: options.pod.uid } } : {}),
        },
      },
    });
    return answer.status?.token ?? "";
  } catch (err) {
    throw fromKubeError(err, `requesting a token of ServiceAccount ${namespace}/${serviceAccount}`, kube.server);
  }
}
