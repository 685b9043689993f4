import { Errors } from "../errors.js";
import type { Admission } from "../registry/requests.js";
import type { Storage } from "../storage.js";

/** The ServiceAccount admission plugin: a new pod's ServiceAccount must exist. */
export function serviceAccountAdmission(storage: Storage): Admission {
  return (rt, pod) => {
    if (rt.group !== "" || rt.plural !== "pods") return;
    const sa = (pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? "default";
    const ns = pod.metadata.namespace ?? "";
    if (!storage.get("serviceaccounts", ns, sa)) {
      throw Errors.forbidden({ group: "", resource: "pods" }, pod.metadata.name, `error looking up service account ${ns}/${sa}: serviceaccount "${sa}" not found`);
    }
  };
}
