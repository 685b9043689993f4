import { Errors } from "../errors.js";
import type { Admission } from "../registry/requests.js";
import type { Storage } from "../storage.js";

/**
 * The NamespaceLifecycle admission plugin: new namespaced objects need their namespace, and none may be made in a
 * namespace being deleted.
 */
export function namespaceLifecycle(storage: Storage): Admission {
  return (rt, object) => {
    const namespace = object.metadata.namespace;
    if (!rt.namespaced || namespace === undefined) return;
    const ns = storage.get("namespaces", undefined, namespace);
    if (!ns) throw Errors.notFound({ group: "", resource: "namespaces" }, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw Errors.forbidden({ group: rt.group, resource: rt.plural }, object.metadata.name ?? "", `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  };
}
