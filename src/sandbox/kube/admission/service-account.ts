import { Errors } from "../errors.js";
import type { Admission } from "../registry/requests.js";
import type { Storage } from "../storage.js";

const DEFAULT_SERVICE_ACCOUNT = "default";

/**
 * The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount): a new pod without a ServiceAccount runs
 * as `default` (pods only: templates keep none), and its ServiceAccount must exist.
 */
export function serviceAccountAdmission(storage: Storage): Admission {
  return (rt, pod) => {
    if (rt.group !== "" || rt.plural !== "pods") return;
    const spec = (pod.spec ??= {}) as { serviceAccountName?: string; serviceAccount?: string };
    if (!spec.serviceAccountName) {
      spec.serviceAccountName = DEFAULT_SERVICE_ACCOUNT;
      spec.serviceAccount = DEFAULT_SERVICE_ACCOUNT;
    }
    const sa = spec.serviceAccountName;
    const ns = pod.metadata.namespace ?? "";
    if (!storage.get("serviceaccounts", ns, sa)) {
      throw Errors.forbidden({ group: "", resource: "pods" }, pod.metadata.name, `error looking up service account ${ns}/${sa}: serviceaccount "${sa}" not found`);
    }
  };
}
