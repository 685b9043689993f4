import { test } from "node:test";
import assert from "node:assert/strict";
import { handoverOnStop } from "../../src/runtime/nmi/handover.js";
import { LiteKubeError } from "../../src/kube/lite/client.js";

const pod = { namespace: "kube-system", name: "podid-nmi-abcde" };
const owned = { metadata: { ownerReferences: [{ kind: "DaemonSet", name: "podid-nmi", controller: true }] } };
/** An API server holding these objects by path (what NMI's lite client's get answers: the object, or undefined for 404). */
const server = (objects: Record<string, unknown>, fail?: Error) => ({
  get: async <T>(path: string): Promise<T | undefined> => {
    if (fail) throw fail;
    return objects[path] as T | undefined;
  },
});
const POD = "/api/v1/namespaces/kube-system/pods/podid-nmi-abcde";
const DS = "/apis/apps/v1/namespaces/kube-system/daemonsets/podid-nmi";

test("the redirect stays for a successor only while NMI's DaemonSet stays; it goes on uninstall; fail closed when the API server cannot say", async () => {
  assert.equal(await handoverOnStop(server({ [POD]: owned, [DS]: { metadata: {} } }), pod), "successor", "a rollout or a restarted pod");
  assert.equal(await handoverOnStop(server({ [POD]: owned }), pod), "removed", "the DaemonSet deleted");
  assert.equal(await handoverOnStop(server({ [POD]: owned, [DS]: { metadata: { deletionTimestamp: "2026-12-01T00:00:00Z" } } }), pod), "removed", "the DaemonSet being deleted");
  assert.equal(await handoverOnStop(server({ [POD]: { metadata: {} } }), pod), "removed", "a pod no DaemonSet owns");
  assert.equal(await handoverOnStop(server({}), undefined), "removed", "not in a pod (no NMI_POD_NAME)");
  assert.equal(await handoverOnStop(server({}, new LiteKubeError(403, "Forbidden", "forbidden")), pod), "removed", "NMI's RBAC deleted with it");
  assert.equal(await handoverOnStop(server({}, new Error("connect ECONNREFUSED")), pod), "unknown", "the API server unreachable");
  assert.equal(await handoverOnStop(server({}, new LiteKubeError(500, "InternalError", "etcd")), pod), "unknown");
});
