import type { KubernetesObject } from "@kubernetes/client-node";
import { IdentityCode, InstallCode, InstallError, KubernetesCode, NotFoundError, PodidError } from "../errors/index.js";
import { AAD_POD_IDENTITY_API_VERSION } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";

/**
 * The failure a request for an aadpodidentity kind gets from a cluster that does not serve the CRDs: the API
 * server's 404 for the group, or the client's discovery finding no such kind there. Anything else (no kubeconfig,
 * a refused connection, a forbidden list) is its own cause and is reported as itself.
 */
export function isNotServed(err: unknown): boolean {
  return err instanceof PodidError && (err.code === KubernetesCode.KubernetesNotFound || err.code === KubernetesCode.KubernetesKindNotServed);
}

/** "podid is not installed in this cluster": the cause, named with the kubeconfig context, and what still works. */
export function notInstalled(kube: KubeSession, cause: unknown, remedy = "Install it first: podid install"): InstallError {
  return new InstallError(InstallCode.AadPodIdentityNotInstalled, `podid is not installed in this cluster (kubeconfig context '${kube.config.getCurrentContext()}'): it does not serve ${AAD_POD_IDENTITY_API_VERSION} (the CRDs podid install applies)`, {
    cause,
    remedy,
  });
}

/** Lists an aadpodidentity kind; a cluster without the CRDs gets notInstalled, not the API server's 404. */
export async function listAadPodIdentity<T extends KubernetesObject>(kube: KubeSession, kind: string, namespace?: string, labelSelector?: string, remedy?: string): Promise<T[]> {
  try {
    return await kube.list<T>(AAD_POD_IDENTITY_API_VERSION, kind, namespace, labelSelector);
  } catch (err) {
    if (isNotServed(err)) throw notInstalled(kube, err, remedy);
    throw err;
  }
}

/** Whether the cluster serves the aadpodidentity kinds (false after `podid uninstall`, or before `podid install`). */
export async function aadPodIdentityServed(kube: KubeSession, namespace?: string): Promise<boolean> {
  try {
    await kube.list(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", namespace);
    return true;
  } catch (err) {
    if (isNotServed(err)) return false;
    throw err;
  }
}

/** Refuses, as "podid is not installed", a command about aadpodidentity objects on a cluster without the CRDs. */
export async function requireInstalled(kube: KubeSession, namespace?: string): Promise<void> {
  if (!(await aadPodIdentityServed(kube, namespace))) throw notInstalled(kube, undefined);
}

/**
 * Checks, before any change is made anywhere, that the cluster answers, the namespace exists and the
 * aadpodidentity resources are served: otherwise a command would create things in Azure and then fail in the
 * cluster, leaving half a job.
 */
export async function clusterPreflight(kube: KubeSession, namespace: string): Promise<void> {
  const ns = await kube.read({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  if (!ns) throw new NotFoundError(IdentityCode.NamespaceNotFound, `namespace '${namespace}' does not exist in the cluster at ${kube.server}`, `Create it (kubectl create namespace ${namespace}) or pass another --namespace.`);
  await listAadPodIdentity(kube, "AzureIdentity", namespace, undefined, "Install podid's CRDs and runtime first: podid install");
}
