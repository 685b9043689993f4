import type { KubeOptions } from "../cli/options.js";
import { checkNamespace } from "../core/validate.js";
import type { KubeSession, KubeOptions as KubeSessionOptions } from "../kube/session.js";

/**
 * What a command's --kubeconfig, --context and --namespace say, --namespace checked: loads no Kubernetes client, so
 * that a command refuses a malformed namespace before it loads one.
 */
export function kubeTarget(o: KubeOptions): KubeSessionOptions {
  return { kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace ? checkNamespace(o.namespace) : undefined };
}

/** The cluster and namespace a command's options name (kubectl's rules); the Kubernetes client loads here. */
export async function openKube(o: KubeOptions): Promise<KubeSession> {
  const options = kubeTarget(o);
  const { openKubeSession } = await import("../kube/session.js");
  return openKubeSession(options);
}
