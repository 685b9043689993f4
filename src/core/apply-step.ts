import type { KubeSession } from "../kube/session.js";
import type { Step } from "./steps.js";

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

/**
 * Server-side apply of one object as a step. The object is rendered when the step runs, so it can carry values
 * earlier steps produced (an identity's client id); plan reads the cluster, apply reports what the server did.
 */
export function applyObjectStep(kube: KubeSession, render: () => Manifest, name?: string): Step {
  const first = render();
  const what = { kind: first.kind, namespace: first.metadata.namespace ?? "", name: first.metadata.name };
  return {
    name: name ?? `${what.kind} ${what.namespace ? what.namespace + "/" : ""}${what.name}`,
    target: "cluster",
    plan: async () => ({ action: (await kube.read(first)) ? "update" : "create", detail: { ...what, object: render() } }),
    apply: async () => ({ outcome: (await kube.apply(render())).result, detail: what }),
  };
}
