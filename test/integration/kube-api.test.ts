import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { AppsV1Api, CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { kubeRequest, rejected, startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";

let f: KubeFixture;
let core: CoreV1Api;
let apps: AppsV1Api;

function pod(name: string, labels: Record<string, string> = {}, extra: Partial<V1Pod["spec"]> = {}): V1Pod {
  return { apiVersion: "v1", kind: "Pod", metadata: { name, labels }, spec: { containers: [{ name: "app", image: "podid:dev" }], ...extra } };
}

async function namespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

before(async () => {
  f = await startKubeFixture();
  core = f.kc.makeApiClient(CoreV1Api);
  apps = f.kc.makeApiClient(AppsV1Api);
});

after(async () => f.stop());

describe("sandbox kube: core objects through @kubernetes/client-node", () => {
  it("seeds nodes, system namespaces and their default ServiceAccounts", async () => {
    const nodes = await core.listNode();
    assert.equal(nodes.items.length, 2);
    const node = nodes.items[0];
    assert.equal(node.metadata?.labels?.["kubernetes.io/os"], "linux");
    assert.equal(node.metadata?.labels?.["kubernetes.io/hostname"], node.metadata?.name);
    assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.equal(node.status?.addresses?.find((a) => a.type === "InternalIP")?.address, "10.224.0.4");
    assert.equal(node.status?.nodeInfo?.operatingSystem, "linux");
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
    for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
      assert.ok(names.includes(ns), ns);
      await core.readNamespacedServiceAccount({ name: "default", namespace: ns });
    }
  });

  it("creates, reads, replaces, patches and deletes pods in a new namespace", async () => {
    const ns = await namespace("crud");
    const sa = await core.readNamespacedServiceAccount({ name: "default", namespace: ns });
    assert.ok(sa.metadata?.uid);
    const created = await core.createNamespacedPod({ namespace: ns, body: pod("web", { app: "web" }) });
    assert.match(created.metadata?.uid ?? "", /^[0-9a-f-]{36}$/);
    assert.match(created.metadata?.resourceVersion ?? "", /^\d+$/);
    assert.ok(created.metadata?.creationTimestamp instanceof Date);
    assert.equal(created.status?.phase, "Pending");
    assert.equal(created.spec?.serviceAccountName, "default");
    assert.equal(created.spec?.containers[0].imagePullPolicy, "IfNotPresent");

    const generated = await core.createNamespacedPod({ namespace: ns, body: { ...pod(""), metadata: { generateName: "worker-" } } });
    assert.match(generated.metadata?.name ?? "", /^worker-[a-z0-9]{5}$/);

    const read = await core.readNamespacedPod({ name: "web", namespace: ns });
    read.metadata!.labels = { app: "web", tier: "front" };
    const replaced = await core.replaceNamespacedPod({ name: "web", namespace: ns, body: read });
    assert.ok(Number(replaced.metadata?.resourceVersion) > Number(created.metadata?.resourceVersion));

    const merged = await core.patchNamespacedPod({ name: "web", namespace: ns, body: { metadata: { labels: { tier: null, extra: "1" } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    assert.deepEqual(merged.metadata?.labels, { app: "web", extra: "1" });
    const jsonPatched = await core.patchNamespacedPod({ name: "web", namespace: ns, body: [{ op: "replace", path: "/metadata/labels/extra", value: "2" }] }, setHeaderOptions("Content-Type", PatchStrategy.JsonPatch));
    assert.equal(jsonPatched.metadata?.labels?.extra, "2");
    const strategic = await core.patchNamespacedPod(
      { name: "web", namespace: ns, body: { spec: { containers: [{ name: "app", env: [{ name: "A", value: "1" }] }, { name: "sidecar", image: "busybox" }] } } },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(strategic.spec?.containers.map((c) => [c.name, c.image, c.env?.length ?? 0]), [["app", "podid:dev", 1], ["sidecar", "busybox", 0]]);

    const status = await core.replaceNamespacedPodStatus({ name: "web", namespace: ns, body: { ...strategic, metadata: { ...strategic.metadata, labels: { ignored: "yes" } }, status: { phase: "Running", podIP: "10.244.0.7" } } });
    assert.equal(status.status?.phase, "Running");
    assert.equal(status.metadata?.labels?.ignored, undefined, "a status update leaves metadata alone");
    const mainIgnoresStatus = await core.replaceNamespacedPod({ name: "web", namespace: ns, body: { ...status, status: { phase: "Failed" } } });
    assert.equal(mainIgnoresStatus.status?.phase, "Running", "a main-resource update leaves status alone");

    await core.deleteNamespacedPod({ name: "web", namespace: ns });
    const gone = await rejected(core.readNamespacedPod({ name: "web", namespace: ns }));
    assert.equal(gone.code, 404);
    assert.equal(gone.message, 'pods "web" not found');
    assert.equal(gone.reason, "NotFound");
    assert.deepEqual(gone.details, { name: "web", kind: "pods" });
  });

  it("refuses a duplicate and a pod in a missing namespace", async () => {
    const ns = await namespace("dup");
    await core.createNamespacedPod({ namespace: ns, body: pod("a") });
    const dup = await rejected(core.createNamespacedPod({ namespace: ns, body: pod("a") }));
    assert.equal(dup.code, 409);
    assert.equal(dup.reason, "AlreadyExists");
    assert.equal(dup.message, 'pods "a" already exists');
    const missing = await rejected(core.createNamespacedPod({ namespace: "no-such-ns", body: pod("a") }));
    assert.equal(missing.code, 404);
    assert.equal(missing.message, 'namespaces "no-such-ns" not found');
  });

  it("answers 409 Conflict to an update from a stale resourceVersion", async () => {
    const ns = await namespace("occ");
    const first = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "cfg" }, data: { a: "1" } } });
    await core.replaceNamespacedConfigMap({ name: "cfg", namespace: ns, body: { ...first, data: { a: "2" } } });
    const conflict = await rejected(core.replaceNamespacedConfigMap({ name: "cfg", namespace: ns, body: { ...first, data: { a: "3" } } }));
    assert.equal(conflict.code, 409);
    assert.equal(conflict.reason, "Conflict");
    assert.equal(conflict.message, 'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; please apply your changes to the latest version and try again');
    assert.equal((await core.readNamespacedConfigMap({ name: "cfg", namespace: ns })).data?.a, "2");
  });

  it("lists with every label selector form, field selectors and pages", async () => {
    const ns = await namespace("sel");
    const specs: [string, Record<string, string>, string?][] = [
      ["p1", { app: "web", tier: "front" }, "aks-nodepool1-12345678-vmss000000"],
      ["p2", { app: "web", tier: "back" }, "aks-nodepool1-12345678-vmss000001"],
      ["p3", { app: "db" }],
      ["p4", {}],
    ];
    for (const [name, labels, nodeName] of specs) await core.createNamespacedPod({ namespace: ns, body: pod(name, labels, nodeName ? { nodeName } : {}) });
    const p2 = await core.readNamespacedPod({ name: "p2", namespace: ns });
    await core.replaceNamespacedPodStatus({ name: "p2", namespace: ns, body: { ...p2, status: { phase: "Running", podIP: "10.244.1.9" } } });
    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector, fieldSelector })).items.map((p) => p.metadata?.name).sort();
    assert.deepEqual(await names("app=web"), ["p1", "p2"]);
    assert.deepEqual(await names("app==db"), ["p3"]);
    assert.deepEqual(await names("app!=web"), ["p3", "p4"]);
    assert.deepEqual(await names("tier in (front,middle)"), ["p1"]);
    assert.deepEqual(await names("app notin (web)"), ["p3", "p4"]);
    assert.deepEqual(await names("tier"), ["p1", "p2"]);
    assert.deepEqual(await names("!tier"), ["p3", "p4"]);
    assert.deepEqual(await names("app=web,tier!=front"), ["p2"]);
    assert.deepEqual(await names(undefined, "metadata.name=p3"), ["p3"]);
    assert.deepEqual(await names(undefined, `metadata.namespace=${ns},metadata.name!=p3`), ["p1", "p2", "p4"]);
    assert.deepEqual(await names(undefined, "spec.nodeName=aks-nodepool1-12345678-vmss000000"), ["p1"]);
    assert.deepEqual(await names(undefined, "status.podIP=10.244.1.9"), ["p2"]);
    assert.deepEqual(await names(undefined, "status.phase==Pending"), ["p1", "p3", "p4"]);
    const all = await core.listPodForAllNamespaces({ labelSelector: "app=web" });
    assert.ok(all.items.every((p) => p.metadata?.labels?.app === "web"));
    const bad = await rejected(core.listNamespacedPod({ namespace: ns, fieldSelector: "spec.bogus=1" }));
    assert.equal(bad.code, 400);
    assert.equal(bad.message, "field label not supported: spec.bogus");

    const page1 = await core.listNamespacedPod({ namespace: ns, limit: 3 });
    assert.equal(page1.items.length, 3);
    assert.ok(page1.metadata?._continue);
    assert.equal(page1.metadata?.remainingItemCount, 1);
    const page2 = await core.listNamespacedPod({ namespace: ns, limit: 3, _continue: page1.metadata?._continue });
    assert.deepEqual(page2.items.map((p) => p.metadata?.name), ["p4"]);
    assert.equal(page2.metadata?._continue, undefined);
  });

  it("holds a deletion until the finalizers are removed", async () => {
    const ns = await namespace("fin");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "held", finalizers: ["example.com/hold"] } } });
    await core.deleteNamespacedConfigMap({ name: "held", namespace: ns });
    const held = await core.readNamespacedConfigMap({ name: "held", namespace: ns });
    assert.ok(held.metadata?.deletionTimestamp, "deletionTimestamp is set");
    const added = await rejected(core.replaceNamespacedConfigMap({ name: "held", namespace: ns, body: { ...held, metadata: { ...held.metadata, finalizers: ["example.com/hold", "example.com/more"] } } }));
    assert.equal(added.code, 422);
    await core.patchNamespacedConfigMap({ name: "held", namespace: ns, body: { metadata: { finalizers: null } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    assert.equal((await rejected(core.readNamespacedConfigMap({ name: "held", namespace: ns }))).code, 404);
  });

  it("garbage-collects dependents through ownerReferences (background, foreground, orphan)", async () => {
    const ns = await namespace("gc");
    const owned = async (name: string) => {
      const deploy = await apps.createNamespacedDeployment({
        namespace: ns,
        body: { metadata: { name }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image: "podid:dev" }] } } } },
      });
      const ownerReferences = [{ apiVersion: "apps/v1", kind: "Deployment", name, uid: deploy.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `${name}-child`, ownerReferences } } });
    };
    await owned("bg");
    await apps.deleteNamespacedDeployment({ name: "bg", namespace: ns, propagationPolicy: "Background" });
    assert.equal((await rejected(core.readNamespacedConfigMap({ name: "bg-child", namespace: ns }))).code, 404);

    await owned("held");
    await apps.patchNamespacedDeployment({ name: "held", namespace: ns, body: { metadata: { finalizers: ["example.com/hold"] } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    await apps.deleteNamespacedDeployment({ name: "held", namespace: ns, propagationPolicy: "Background" });
    await core.readNamespacedConfigMap({ name: "held-child", namespace: ns });
    await apps.patchNamespacedDeployment({ name: "held", namespace: ns, body: { metadata: { finalizers: null } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    assert.equal((await rejected(core.readNamespacedConfigMap({ name: "held-child", namespace: ns }))).code, 404, "dependents go once the owner is gone");

    await owned("orphan");
    await apps.deleteNamespacedDeployment({ name: "orphan", namespace: ns, propagationPolicy: "Orphan" });
    const orphan = await core.readNamespacedConfigMap({ name: "orphan-child", namespace: ns });
    assert.equal(orphan.metadata?.ownerReferences, undefined);

    await owned("fg");
    await core.patchNamespacedConfigMap({ name: "fg-child", namespace: ns, body: { metadata: { finalizers: ["example.com/hold"] } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    await apps.deleteNamespacedDeployment({ name: "fg", namespace: ns, propagationPolicy: "Foreground" });
    const waiting = await apps.readNamespacedDeployment({ name: "fg", namespace: ns });
    assert.deepEqual(waiting.metadata?.finalizers, ["foregroundDeletion"]);
    await core.patchNamespacedConfigMap({ name: "fg-child", namespace: ns, body: { metadata: { finalizers: null } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    assert.equal((await rejected(apps.readNamespacedDeployment({ name: "fg", namespace: ns }))).code, 404);
  });

  it("deletes collections and whole namespaces", async () => {
    const ns = await namespace("coll");
    for (const name of ["a", "b", "c"]) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels: { group: name === "c" ? "keep" : "drop" } } } });
    await core.deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: "group=drop" });
    assert.deepEqual((await core.listNamespacedConfigMap({ namespace: ns })).items.map((c) => c.metadata?.name), ["c"]);
    await core.deleteNamespace({ name: ns });
    assert.equal((await rejected(core.readNamespace({ name: ns }))).code, 404);
    assert.equal((await core.listNamespacedConfigMap({ namespace: ns })).items.length, 0);
    const protectedNs = await rejected(core.deleteNamespace({ name: "kube-system" }));
    assert.equal(protectedNs.code, 403);
    assert.equal(protectedNs.message, 'namespaces "kube-system" is forbidden: this namespace may not be deleted');
  });

  it("supports leader-election style lease updates with conflicts", async () => {
    const ns = await namespace("lease");
    const leases = f.kc.makeApiClient(CoordinationV1Api);
    const now = () => new Date();
    const a = await leases.createNamespacedLease({ namespace: ns, body: { metadata: { name: "leader" }, spec: { holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: now(), renewTime: now() } } });
    // Both candidates read the same version; a renews first, so b's takeover must fail.
    const seenByB = await leases.readNamespacedLease({ name: "leader", namespace: ns });
    const renewed = await leases.replaceNamespacedLease({ name: "leader", namespace: ns, body: { ...a, spec: { ...a.spec, renewTime: now() } } });
    const takeover = await rejected(leases.replaceNamespacedLease({ name: "leader", namespace: ns, body: { ...seenByB, spec: { ...seenByB.spec, holderIdentity: "b" } } }));
    assert.equal(takeover.code, 409);
    assert.equal(takeover.message, 'Operation cannot be fulfilled on leases.coordination.k8s.io "leader": the object has been modified; please apply your changes to the latest version and try again');
    assert.deepEqual(takeover.details, { name: "leader", group: "coordination.k8s.io", kind: "leases" });
    const current = await leases.readNamespacedLease({ name: "leader", namespace: ns });
    assert.equal(current.metadata?.resourceVersion, renewed.metadata?.resourceVersion);
    assert.equal(current.spec?.holderIdentity, "a");
    const taken = await leases.replaceNamespacedLease({ name: "leader", namespace: ns, body: { ...current, spec: { ...current.spec, holderIdentity: "b", leaseTransitions: 1 } } });
    assert.equal(taken.spec?.holderIdentity, "b");
  });

  it("honours dryRun=All", async () => {
    const ns = await namespace("dry");
    const dry = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "dry" } }, dryRun: "All" });
    assert.equal(dry.metadata?.name, "dry");
    assert.equal((await rejected(core.readNamespacedConfigMap({ name: "dry", namespace: ns }))).code, 404);
  });

  it("serviceAccount is serviceAccountName's deprecated alias on pods and templates alike; only pods get default", async () => {
    const ns = await namespace("alias");
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "app" } } });
    const template = (serviceAccount?: string) => ({ metadata: { labels: { app: "x" } }, spec: { containers: [{ name: "app", image: "podid:dev" }], ...(serviceAccount ? { serviceAccount } : {}) } });
    const created = await apps.createNamespacedDeployment({ namespace: ns, body: { metadata: { name: "x" }, spec: { selector: { matchLabels: { app: "x" } }, template: template() } } });
    assert.deepEqual([created.spec?.template.spec?.serviceAccountName, created.spec?.template.spec?.serviceAccount], [undefined, undefined], "a template keeps no default");
    const merge = (body: object) => apps.patchNamespacedDeployment({ name: "x", namespace: ns, body }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    const named = await merge({ spec: { template: { spec: { serviceAccountName: "app" } } } });
    assert.deepEqual([named.spec?.template.spec?.serviceAccountName, named.spec?.template.spec?.serviceAccount], ["app", "app"]);
    // Dropping the name alone: the alias, still there, names it again.
    const half = await merge({ spec: { template: { spec: { serviceAccountName: null } } } });
    assert.deepEqual([half.spec?.template.spec?.serviceAccountName, half.spec?.template.spec?.serviceAccount], ["app", "app"]);
    const both = await merge({ spec: { template: { spec: { serviceAccountName: null, serviceAccount: null } } } });
    assert.deepEqual([both.spec?.template.spec?.serviceAccountName, both.spec?.template.spec?.serviceAccount], [undefined, undefined]);
    // A pod named by the alias alone runs as it; one naming none runs as default.
    const aliased = await core.createNamespacedPod({ namespace: ns, body: { ...template("app"), metadata: { name: "aliased" } } });
    assert.deepEqual([aliased.spec?.serviceAccountName, aliased.spec?.serviceAccount], ["app", "app"]);
    const plain = await core.createNamespacedPod({ namespace: ns, body: pod("plain") });
    assert.deepEqual([plain.spec?.serviceAccountName, plain.spec?.serviceAccount], ["default", "default"]);
  });
});

describe("sandbox kube: bad requests get kube-apiserver's Status and the server keeps serving", () => {
  it("unknown resources and groups are 404 with the generic message", async () => {
    for (const path of ["/api/v1/namespaces/default/widgets", "/apis/nope.example.com/v1/things", "/api/v2/pods", "/apis/apps/v1/namespaces/default/deployments/x/bogus"]) {
      const r = await kubeRequest(f, "GET", path);
      assert.equal(r.status, 404, path);
      assert.deepEqual(r.json, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server could not find the requested resource", reason: "NotFound", details: {}, code: 404 });
    }
  });

  it("malformed JSON and YAML are 400 BadRequest", async () => {
    const json = await kubeRequest(f, "POST", "/api/v1/namespaces/default/configmaps", { body: "{not json", contentType: "application/json" });
    assert.equal(json.status, 400);
    assert.equal(json.json.reason, "BadRequest");
    assert.match(json.json.message, /^couldn't get version\/kind; json parse error: /);
    const yaml = await kubeRequest(f, "PATCH", "/api/v1/namespaces/default/configmaps/x?fieldManager=t", { body: "a: b: c\n  - ]", contentType: "application/apply-patch+yaml" });
    assert.equal(yaml.status, 400);
    assert.equal(yaml.json.reason, "BadRequest");
    assert.match(yaml.json.message, /^error converting YAML to JSON: yaml: /);
  });

  it("invalid names are 422 Invalid with causes", async () => {
    const r = await rejected(core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "Bad_Name" } } }));
    assert.equal(r.code, 422);
    assert.equal(r.reason, "Invalid");
    const rule = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    assert.equal(r.message, `ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ${rule}`);
    assert.deepEqual(r.details, { name: "Bad_Name", kind: "ConfigMap", causes: [{ reason: "FieldValueInvalid", message: `Invalid value: "Bad_Name": ${rule}`, field: "metadata.name" }] });
    const ns = await rejected(core.createNamespace({ body: { metadata: { name: "has.dot" } } }));
    assert.match(ns.message ?? "", /^Namespace "has.dot" is invalid: metadata.name: Invalid value: "has.dot": a lowercase RFC 1123 label must consist of/);
    const noContainers = await rejected(core.createNamespacedPod({ namespace: "default", body: { metadata: { name: "empty" }, spec: { containers: [] } } }));
    assert.equal(noContainers.message, 'Pod "empty" is invalid: spec.containers: Required value');
  });

  it("a body of the wrong apiVersion or kind is 400 BadRequest", async () => {
    const kind = await kubeRequest(f, "POST", "/api/v1/namespaces/default/configmaps", { body: JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "x" } }), contentType: "application/json" });
    assert.equal(kind.status, 400);
    assert.equal(kind.json.message, "the kind in the data (Secret) does not match the expected kind (ConfigMap)");
    const version = await kubeRequest(f, "POST", "/apis/apps/v1/namespaces/default/deployments", { body: JSON.stringify({ apiVersion: "apps/v1beta1", kind: "Deployment", metadata: { name: "x" } }), contentType: "application/json" });
    assert.equal(version.status, 400);
    assert.equal(version.json.message, "the API version in the data (apps/v1beta1) does not match the expected API version (apps/v1)");
    const nameMismatch = await kubeRequest(f, "PUT", "/api/v1/namespaces/default/configmaps/one", { body: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "two" } }), contentType: "application/json" });
    assert.equal(nameMismatch.status, 400);
    assert.equal(nameMismatch.json.message, "the name of the object (two) does not match the name on the URL (one)");
  });

  it("wrong media type is 415, wrong method 405, no or bad token 401", async () => {
    const media = await kubeRequest(f, "PATCH", "/api/v1/namespaces/default/configmaps/x", { body: "{}", contentType: "text/plain" });
    assert.equal(media.status, 415);
    assert.equal(media.json.reason, "UnsupportedMediaType");
    const method = await kubeRequest(f, "POST", "/api/v1/namespaces/default/configmaps/x", { body: "{}", contentType: "application/json" });
    assert.equal(method.status, 405);
    assert.equal(method.json.reason, "MethodNotAllowed");
    for (const token of ["", "not-a-token"]) {
      const r = await kubeRequest(f, "GET", "/api/v1/pods", { token });
      assert.equal(r.status, 401);
      assert.deepEqual(r.json, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 });
    }
    assert.equal((await kubeRequest(f, "GET", "/healthz", { token: "" })).text, "ok");
    assert.equal((await core.listNamespace()).items.length >= 4, true, "still serving");
  });
});

describe("sandbox kube: discovery and OpenAPI", () => {
  it("serves legacy and aggregated discovery", async () => {
    const version = await kubeRequest(f, "GET", "/version");
    assert.equal(version.json.major, "1");
    const groups = await kubeRequest(f, "GET", "/apis");
    assert.equal(groups.json.kind, "APIGroupList");
    assert.ok(groups.json.groups.some((g: { name: string }) => g.name === "apps"));
    const coreList = await kubeRequest(f, "GET", "/api/v1");
    assert.ok(coreList.json.resources.some((r: { name: string }) => r.name === "pods/status"));
    for (const v of ["v2", "v2beta1"]) {
      const accept = `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList,application/json`;
      const agg = await kubeRequest(f, "GET", "/apis", { accept });
      assert.equal(agg.headers["content-type"], `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`);
      assert.equal(agg.json.kind, "APIGroupDiscoveryList");
      const appsGroup = agg.json.items.find((g: { metadata: { name: string } }) => g.metadata.name === "apps");
      assert.ok(appsGroup.versions[0].resources.some((r: { resource: string; scope: string }) => r.resource === "deployments" && r.scope === "Namespaced"));
      const coreAgg = await kubeRequest(f, "GET", "/api", { accept });
      assert.equal(coreAgg.json.items[0].metadata.name, "");
    }
  });

  it("serves OpenAPI v2 and v3 documents", async () => {
    const v3 = await kubeRequest(f, "GET", "/openapi/v3");
    const url = v3.json.paths["apis/apps/v1"].serverRelativeURL;
    const doc = await kubeRequest(f, "GET", url);
    const patch = doc.json.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].patch;
    assert.ok(patch.parameters.some((p: { name: string }) => p.name === "fieldValidation"));
    assert.equal((await kubeRequest(f, "GET", "/openapi/v2")).json.swagger, "2.0");
  });
});

describe("sandbox kube: kubeconfig", () => {
  it("names cluster and context after the AKS cluster, with an admin token user, mode 0600", () => {
    assert.equal(statSync(f.api.kubeconfigPath).mode & 0o777, 0o600);
    assert.equal(f.kc.getCurrentContext(), "podid-test");
    assert.equal(f.kc.getCurrentCluster()?.name, "podid-test");
    assert.equal(f.kc.getCurrentCluster()?.server, f.api.url);
    assert.equal(f.kc.getCurrentUser()?.name, "clusterAdmin_podid-test");
    assert.equal(f.kc.getCurrentUser()?.token, f.api.adminToken);
    assert.equal(f.kc.getContextObject("podid-test")?.namespace, "default");
    assert.equal(Buffer.from(f.kc.getCurrentCluster()?.caData ?? "", "base64").toString(), f.options.caCertPem);
  });
});

describe("sandbox kube: persistence", () => {
  it("keeps objects, resourceVersions and tokens across close() and start", async () => {
    const ns = await namespace("persist");
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "kept" }, data: { k: "v" } } });
    const token = f.api.tokenForServiceAccount(ns, "default");
    const admin = f.api.adminToken;
    await f.restart();
    core = f.kc.makeApiClient(CoreV1Api);
    apps = f.kc.makeApiClient(AppsV1Api);
    const again = await core.readNamespacedConfigMap({ name: "kept", namespace: ns });
    assert.equal(again.metadata?.resourceVersion, cm.metadata?.resourceVersion);
    assert.equal(again.data?.k, "v");
    assert.equal(f.api.adminToken, admin);
    assert.equal(f.api.tokenForServiceAccount(ns, "default"), token);
    const next = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after" } } });
    assert.ok(Number(next.metadata?.resourceVersion) > Number(cm.metadata?.resourceVersion));
    assert.equal((await core.listNode()).items.length, 2);
  });
});
