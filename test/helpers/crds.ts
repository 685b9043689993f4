import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { loadTemplates } from "../../src/render/templates.js";

type Crd = KubernetesObject & { spec: { versions: { schema?: { openAPIV3Schema: object } }[] } };

/** Applies templates/install/crds.yaml with server-side apply and waits until the new kinds are served. */
export async function applyShippedCrds(kc: KubeConfig): Promise<void> {
  await applyCrds(kc, loadTemplates<Crd>("install/crds.yaml"));
}

/**
 * The same kinds as a cluster that ran aad-pod-identity before 1.6 keeps them: no schema, so the API server prunes
 * nothing and objects written with the old field spellings (`ClientID`, `ResourceID`, ...) keep them.
 */
export async function applyPre16Crds(kc: KubeConfig): Promise<void> {
  // client-node serializes a CRD through its typed model, which spells the extension in camelCase.
  const open = { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } };
  await applyCrds(kc, loadTemplates<Crd>("install/crds.yaml").map((crd) => ({ ...crd, spec: { ...crd.spec, versions: crd.spec.versions.map((v) => ({ ...v, schema: open })) } })));
}

async function applyCrds(kc: KubeConfig, crds: Crd[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const crd of crds) await api.patch(crd, undefined, undefined, "podid-test", true, PatchStrategy.ServerSideApply);
}
