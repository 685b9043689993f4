import { IdentityCode, InstallCode, InstallError, KubernetesCode, NotFoundError, PodidError } from "../errors/index.js";
import { AAD_POD_IDENTITY_API_VERSION } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";

/**
 * Checks, before any change is made anywhere, that the cluster answers, the namespace exists and the
 * aadpodidentity resources are served: otherwise a command would create things in Azure and then fail in the
 * cluster, leaving half a job.
 */
export async function clusterPreflight(kube: KubeSession, namespace: string): Promise<void> {
  const ns = await kube.read({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  if (!ns) throw new NotFoundError(IdentityCode.NamespaceNotFound, `namespace '${namespace}' does not exist in the cluster at ${kube.server}`, `Create it (kubectl create namespace ${namespace}) or pass another --namespace.`);
  try {
    await kube.list(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", namespace);
  } catch (err) {
    if (err instanceof PodidError && err.code !== KubernetesCode.KubernetesRequestFailed && err.code !== KubernetesCode.KubernetesNotFound) throw err;
    throw new InstallError(InstallCode.AadPodIdentityNotInstalled, `the cluster at ${kube.server} does not serve ${AAD_POD_IDENTITY_API_VERSION} AzureIdentity`, {
      cause: err,
      remedy: "Install podid's CRDs and runtime first: podid install",
    });
  }
}
