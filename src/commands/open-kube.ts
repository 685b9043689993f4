import type { KubeOptions } from "../cli/options.js";
import { checkNamespace } from "../core/validate.js";
import { openKubeSession, type KubeSession } from "../kube/session.js";

/** The cluster and namespace a command's --kubeconfig, --context and --namespace name (kubectl's rules). */
export function openKube(o: KubeOptions): KubeSession {
  return openKubeSession({ kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace ? checkNamespace(o.namespace) : undefined });
}
