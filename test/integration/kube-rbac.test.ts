import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { AuthorizationV1Api, CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { kubeRequest, rejected, startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";

let f: KubeFixture;
let core: CoreV1Api;
let rbac: RbacAuthorizationV1Api;

before(async () => {
  f = await startKubeFixture();
  core = f.kc.makeApiClient(CoreV1Api);
  rbac = f.kc.makeApiClient(RbacAuthorizationV1Api);
});

after(async () => f.stop());

async function serviceAccount(): Promise<{ ns: string; sa: string }> {
  const ns = uniqueName("rbac");
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "reader" } } });
  return { ns, sa: "reader" };
}

describe("sandbox kube: RBAC for ServiceAccount tokens", () => {
  it("a ServiceAccount without RBAC gets kube's 403; discovery stays open", async () => {
    const { ns, sa } = await serviceAccount();
    const as = f.kubeConfigFor(ns, sa).makeApiClient(CoreV1Api);
    const list = await rejected(as.listNamespacedPod({ namespace: "default" }));
    assert.equal(list.code, 403);
    assert.equal(list.reason, "Forbidden");
    assert.equal(list.message, `pods is forbidden: User "system:serviceaccount:${ns}:${sa}" cannot list resource "pods" in API group "" in the namespace "default"`);
    assert.deepEqual(list.details, { kind: "pods" });
    const get = await rejected(as.readNode({ name: "aks-nodepool1-12345678-vmss000000" }));
    assert.equal(get.message, `nodes "aks-nodepool1-12345678-vmss000000" is forbidden: User "system:serviceaccount:${ns}:${sa}" cannot get resource "nodes" in API group "" at the cluster scope`);
    const token = f.api.tokenForServiceAccount(ns, sa);
    for (const path of ["/api", "/apis", "/api/v1", "/apis/apps/v1", "/version", "/openapi/v3"]) assert.equal((await kubeRequest(f, "GET", path, { token })).status, 200, path);
    const metrics = await kubeRequest(f, "GET", "/metrics", { token });
    assert.equal(metrics.status, 403);
    assert.equal(metrics.json.message, `forbidden: User "system:serviceaccount:${ns}:${sa}" cannot get path "/metrics"`);
  });

  it("a Role and RoleBinding grant exactly their rules, in their namespace", async () => {
    const { ns, sa } = await serviceAccount();
    await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: "pod-reader" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }, { apiGroups: [""], resources: ["configmaps"], resourceNames: ["allowed"], verbs: ["get"] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: ns, body: { metadata: { name: "read-pods" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-reader" }, subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }] } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "allowed" } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "secret-ish" } } });
    const as = f.kubeConfigFor(ns, sa).makeApiClient(CoreV1Api);
    assert.deepEqual((await as.listNamespacedPod({ namespace: ns })).items, []);
    assert.equal((await rejected(as.listNamespacedPod({ namespace: "default" }))).code, 403);
    assert.equal((await rejected(as.createNamespacedPod({ namespace: ns, body: { metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "i" }] } } }))).code, 403);
    assert.equal((await as.readNamespacedConfigMap({ name: "allowed", namespace: ns })).metadata?.name, "allowed");
    assert.equal((await rejected(as.readNamespacedConfigMap({ name: "secret-ish", namespace: ns }))).code, 403);
    const status = await rejected(as.replaceNamespacedPodStatus({ name: "p", namespace: ns, body: { metadata: { name: "p" } } }));
    assert.equal(status.message, `pods "p" is forbidden: User "system:serviceaccount:${ns}:${sa}" cannot update resource "pods/status" in API group "" in the namespace "${ns}"`);
  });

  it("ClusterRoleBindings to groups and subresource rules work cluster-wide", async () => {
    const { ns, sa } = await serviceAccount();
    const role = uniqueName("node-status");
    await rbac.createClusterRole({ body: { metadata: { name: role }, rules: [{ apiGroups: [""], resources: ["nodes", "pods/status"], verbs: ["get", "list", "update"] }] } });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: role }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role }, subjects: [{ kind: "Group", name: `system:serviceaccounts:${ns}`, apiGroup: "rbac.authorization.k8s.io" }] } });
    const as = f.kubeConfigFor(ns, sa).makeApiClient(CoreV1Api);
    assert.equal((await as.listNode()).items.length, 2);
    await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "podid:dev" }] } } });
    const p = await core.readNamespacedPod({ name: "p", namespace: ns });
    const updated = await as.replaceNamespacedPodStatus({ name: "p", namespace: ns, body: { ...p, status: { phase: "Running" } } });
    assert.equal(updated.status?.phase, "Running");
    assert.equal((await rejected(as.readNamespacedPod({ name: "p", namespace: ns }))).code, 403, "pods/status does not grant pods");
  });

  it("answers SelfSubjectAccessReviews from the same rules", async () => {
    const { ns, sa } = await serviceAccount();
    const authz = f.kubeConfigFor(ns, sa).makeApiClient(AuthorizationV1Api);
    const review = await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace: ns, verb: "list", resource: "pods" } } } });
    assert.equal(review.status?.allowed, false);
  });

  it("a deleted ServiceAccount's token stops working", async () => {
    const { ns, sa } = await serviceAccount();
    const token = f.api.tokenForServiceAccount(ns, sa);
    assert.equal((await kubeRequest(f, "GET", "/api", { token })).status, 200);
    await core.deleteNamespacedServiceAccount({ name: sa, namespace: ns });
    assert.equal((await kubeRequest(f, "GET", "/api", { token })).status, 401);
    assert.throws(() => f.api.tokenForServiceAccount(ns, sa));
  });
});
