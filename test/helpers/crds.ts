import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { loadTemplates } from "../../src/render/templates.js";

/** Applies templates/install/crds.yaml with server-side apply and waits until the new kinds are served. */
export async function applyShippedCrds(kc: KubeConfig): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const crd of loadTemplates<KubernetesObject>("install/crds.yaml")) {
    await api.patch(crd, undefined, undefined, "podid-test", true, PatchStrategy.ServerSideApply);
  }
}
