import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubernetesObject } from "@kubernetes/client-node";
import { kubeRequest, rejected, startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";

let f: KubeFixture;
let objects: KubernetesObjectApi;
let custom: CustomObjectsApi;
let core: CoreV1Api;

/** A CRD for <plural>.<group>, with a status subresource and printer columns. */
function widgetCrd(group: string, scope: "Namespaced" | "Cluster"): KubernetesObject & Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope,
      names: { plural: "widgets", singular: "widget", kind: "Widget", shortNames: ["wd"] },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Size", type: "integer", jsonPath: ".spec.size" },
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  properties: {
                    size: { type: "integer" },
                    color: { type: "string" },
                    parts: { type: "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], items: { type: "object", properties: { name: { type: "string" }, count: { type: "integer" } } } },
                  },
                },
                status: { type: "object", properties: { phase: { type: "string" } } },
              },
            },
          },
        },
      ],
    },
  };
}

before(async () => {
  f = await startKubeFixture();
  objects = KubernetesObjectApi.makeApiClient(f.kc);
  custom = f.kc.makeApiClient(CustomObjectsApi);
  core = f.kc.makeApiClient(CoreV1Api);
});

after(async () => f.stop());

describe("sandbox kube: CustomResourceDefinitions", () => {
  it("serves a namespaced CRD: custom objects CRUD, status subresource, printer columns, pruning, validation", async () => {
    const group = `${uniqueName("ns")}.example.com`;
    const crds = f.kc.makeApiClient(ApiextensionsV1Api);
    const crd = await crds.createCustomResourceDefinition({ body: widgetCrd(group, "Namespaced") as never });
    assert.equal(crd.status?.conditions?.find((c) => c.type === "Established")?.status, "True");
    const resources = await kubeRequest(f, "GET", `/apis/${group}/v1`);
    assert.deepEqual(resources.json.resources.map((r: { name: string }) => r.name), ["widgets", "widgets/status"]);

    const w = { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1" }, spec: { size: 3, color: "red", unknown: "pruned" }, status: { phase: "ignored" } };
    const created = (await custom.createNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "widgets", body: w })) as KubernetesObject & { spec: Record<string, unknown>; status?: unknown };
    assert.deepEqual(created.spec, { size: 3, color: "red" }, "unknown fields are pruned");
    assert.equal(created.status, undefined, "status is not set on create when there is a status subresource");
    assert.equal(created.metadata?.generation, 1);

    const status = (await custom.replaceNamespacedCustomObjectStatus({ group, version: "v1", namespace: "default", plural: "widgets", name: "w1", body: { ...created, status: { phase: "Ready" } } })) as { status: { phase: string }; metadata: { generation: number } };
    assert.equal(status.status.phase, "Ready");
    assert.equal(status.metadata.generation, 1, "status writes do not bump generation");
    const patched = (await custom.patchNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "widgets", name: "w1", body: { spec: { size: 4 } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch))) as { spec: { size: number }; metadata: { generation: number } };
    assert.equal(patched.spec.size, 4);
    assert.equal(patched.metadata.generation, 2);
    const smp = await rejected(custom.patchNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "widgets", name: "w1", body: { spec: { size: 5 } } }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)));
    assert.equal(smp.code, 415);

    const bad = await rejected(custom.createNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "widgets", body: { ...w, metadata: { name: "w2" }, spec: { size: "big" } } }));
    assert.equal(bad.code, 422);
    assert.equal(bad.message, 'Widget.' + group + ' "w2" is invalid: spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"');

    const strict = await kubeRequest(f, "POST", `/apis/${group}/v1/namespaces/default/widgets?fieldValidation=Strict`, { body: JSON.stringify({ ...w, metadata: { name: "w3" } }), contentType: "application/json" });
    assert.equal(strict.status, 400);
    assert.equal(strict.json.message, 'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.unknown"');

    const table = await kubeRequest(f, "GET", `/apis/${group}/v1/widgets`, { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" });
    assert.equal(table.json.kind, "Table");
    assert.deepEqual(table.json.columnDefinitions.map((c: { name: string }) => c.name), ["Name", "Size", "Phase"]);
    assert.deepEqual(table.json.rows[0].cells, ["w1", 4, "Ready"]);
    assert.equal(table.json.rows[0].object.metadata.namespace, "default");

    const list = (await custom.listNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "widgets" })) as { items: unknown[] };
    assert.equal(list.items.length, 1);
    await custom.deleteNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "widgets", name: "w1" });
    assert.equal((await rejected(custom.getNamespacedCustomObject({ group, version: "v1", namespace: "default", plural: "widgets", name: "w1" }))).message, `widgets.${group} "w1" not found`);

    await crds.deleteCustomResourceDefinition({ name: `widgets.${group}` });
    assert.equal((await kubeRequest(f, "GET", `/apis/${group}/v1/widgets`)).status, 404);
  });

  it("serves a cluster-scoped CRD and refuses an invalid one", async () => {
    const group = `${uniqueName("cl")}.example.com`;
    await objects.create(widgetCrd(group, "Cluster"));
    await custom.createClusterCustomObject({ group, version: "v1", plural: "widgets", body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "global" }, spec: { size: 1 } } });
    const got = (await custom.getClusterCustomObject({ group, version: "v1", plural: "widgets", name: "global" })) as KubernetesObject;
    assert.equal(got.metadata?.namespace, undefined);
    const invalid = widgetCrd(group, "Cluster");
    invalid.metadata = { name: "wrong.example.com" };
    const r = await rejected(objects.create(invalid));
    assert.equal(r.code, 422);
    assert.match(r.message ?? "", /^CustomResourceDefinition.apiextensions.k8s.io "wrong.example.com" is invalid: metadata.name: Invalid value: "wrong.example.com": must be spec.names.plural\+"."\+spec.group/);
  });
});

describe("sandbox kube: server-side apply", () => {
  it("is idempotent through KubernetesObjectApi and records managedFields", async () => {
    const name = uniqueName("ssa");
    const cm: KubernetesObject & { data: Record<string, string> } = { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default", labels: { app: "x" } }, data: { a: "1" } };
    const first = await objects.patch(cm, undefined, undefined, "podid", undefined, PatchStrategy.ServerSideApply);
    const second = await objects.patch(cm, undefined, undefined, "podid", undefined, PatchStrategy.ServerSideApply);
    assert.equal(second.metadata?.resourceVersion, first.metadata?.resourceVersion, "a no-op apply does not write");
    const entry = second.metadata?.managedFields?.find((m) => m.manager === "podid");
    assert.equal(entry?.operation, "Apply");
    assert.deepEqual(entry?.fieldsV1, { "f:data": { "f:a": {} }, "f:metadata": { "f:labels": { "f:app": {} } } });
    // Dropping a field from the applied configuration removes it.
    const third = (await objects.patch({ ...cm, data: { b: "2" } }, undefined, undefined, "podid", undefined, PatchStrategy.ServerSideApply)) as KubernetesObject & { data: Record<string, string> };
    assert.deepEqual(third.data, { b: "2" });
  });

  it("reports conflicts between managers with kube's message and causes, and force takes ownership", async () => {
    const name = uniqueName("conflict");
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" }, data: { shared: "1", mine: "x" } };
    await objects.patch(cm, undefined, undefined, "first", undefined, PatchStrategy.ServerSideApply);
    const same = await objects.patch({ ...cm, data: { shared: "1" } }, undefined, undefined, "second", undefined, PatchStrategy.ServerSideApply);
    assert.ok(same, "applying an equal value shares ownership without conflict");
    const conflict = await rejected(objects.patch({ ...cm, data: { shared: "2" } }, undefined, undefined, "second", undefined, PatchStrategy.ServerSideApply));
    assert.equal(conflict.code, 409);
    assert.equal(conflict.reason, "Conflict");
    assert.equal(conflict.message, 'Apply failed with 1 conflict: conflict with "first": .data.shared');
    assert.deepEqual(conflict.details.causes, [{ reason: "FieldManagerConflict", message: 'conflict with "first"', field: ".data.shared" }]);

    await core.patchNamespacedConfigMap({ name, namespace: "default", body: { data: { mine: "y" } }, fieldManager: "editor" }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    const updateConflict = await rejected(objects.patch(cm, undefined, undefined, "first", undefined, PatchStrategy.ServerSideApply));
    assert.equal(updateConflict.message, 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.mine');

    const forced = (await objects.patch({ ...cm, data: { shared: "2" } }, undefined, undefined, "second", true, PatchStrategy.ServerSideApply)) as KubernetesObject & { data: Record<string, string> };
    assert.equal(forced.data.shared, "2");
    const owners = forced.metadata?.managedFields?.filter((m) => JSON.stringify(m.fieldsV1).includes("f:shared")).map((m) => m.manager);
    assert.deepEqual(owners, ["second"]);
  });

  it("requires a fieldManager and accepts YAML bodies", async () => {
    const name = uniqueName("yaml");
    const noManager = await kubeRequest(f, "PATCH", `/api/v1/namespaces/default/configmaps/${name}`, { body: "apiVersion: v1\nkind: ConfigMap\n", contentType: "application/apply-patch+yaml" });
    assert.equal(noManager.status, 422);
    assert.equal(noManager.json.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const yaml = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  k: v\n`;
    const created = await kubeRequest(f, "PATCH", `/api/v1/namespaces/default/configmaps/${name}?fieldManager=kubectl`, { body: yaml, contentType: "application/apply-patch+yaml" });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json.data, { k: "v" });
  });

  it("merges associative lists by key (custom list-map keys and built-in containers)", async () => {
    const name = uniqueName("deploy");
    const deploy = (containers: { name: string; image: string }[]) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: "default" },
      spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers } } },
    });
    await objects.patch(deploy([{ name: "app", image: "podid:1" }]), undefined, undefined, "app-team", undefined, PatchStrategy.ServerSideApply);
    const sidecar = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name, namespace: "default" }, spec: { template: { spec: { containers: [{ name: "proxy", image: "envoy:1" }] } } } };
    const both = (await objects.patch(sidecar, undefined, undefined, "mesh", undefined, PatchStrategy.ServerSideApply)) as KubernetesObject & { spec: { template: { spec: { containers: { name: string }[] } } } };
    assert.deepEqual(both.spec.template.spec.containers.map((c) => c.name), ["app", "proxy"]);
    const conflict = await rejected(objects.patch(deploy([{ name: "app", image: "podid:2" }, { name: "proxy", image: "envoy:2" }]), undefined, undefined, "app-team", undefined, PatchStrategy.ServerSideApply));
    assert.equal(conflict.message, 'Apply failed with 1 conflict: conflict with "mesh": .spec.template.spec.containers[name="proxy"].image');
  });
});
