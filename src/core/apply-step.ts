import type { RoleGrant, RoleService } from "../azure/roles.js";
import type { KubeSession } from "../kube/session.js";
import type { Step } from "./steps.js";

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

/** A step's name for one object: `Kind namespace/name`. */
function objectStepName(m: Manifest): string {
  return `${m.kind} ${m.metadata.namespace ? m.metadata.namespace + "/" : ""}${m.metadata.name}`;
}

/**
 * Server-side apply of one object as a step. The object is rendered when the step runs, so it can carry values
 * earlier steps produced (an identity's client id); plan reads the cluster, apply reports what the server did.
 */
export function applyObjectStep(kube: KubeSession, render: () => Manifest, name?: string): Step {
  const first = render();
  const what = { kind: first.kind, namespace: first.metadata.namespace ?? "", name: first.metadata.name };
  return {
    name: name ?? objectStepName(first),
    target: "cluster",
    plan: async () => ({ action: (await kube.read(first)) ? "update" : "create", detail: { ...what, object: render() } }),
    apply: async () => ({ outcome: (await kube.apply(render())).result, detail: what }),
  };
}

/** Deleting one object as a step: "deleted", or "absent" when it is already gone (a re-run finishes, never fails). */
export function deleteObjectStep(kube: KubeSession, header: Manifest, name?: string): Step {
  return {
    name: name ?? objectStepName(header),
    target: "cluster",
    plan: async () => ({ action: (await kube.read(header)) ? "delete" : "none" }),
    apply: async () => ({ outcome: (await kube.delete(header)) ? "deleted" : "absent" }),
  };
}

/** Removing one role assignment podid made as a step: only the assignment that is exactly this grant and podid's. */
export function removeGrantStep(roles: RoleService, grant: RoleGrant, name: string): Step {
  return {
    name,
    target: "azure",
    plan: async () => ({ action: (await roles.podidsAssignment(grant)) ? "delete" : "none" }),
    apply: async () => ({ outcome: await roles.removeGrant(grant) }),
  };
}
