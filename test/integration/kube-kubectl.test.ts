import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { tmpdir } from "node:os";
import { CoreV1Api } from "@kubernetes/client-node";
import { startKubeFixture, type KubeFixture } from "../helpers/kube-api.js";

/**
 * Whatever kubectl this machine has (Debian's kubernetes-client in CI) against the sandbox API server, with only
 * the kubeconfig it writes. PODID_TEST_KUBECTL points the test at another binary (e.g. an older release).
 */

function findKubectl(): string | undefined {
  if (process.env.PODID_TEST_KUBECTL) return process.env.PODID_TEST_KUBECTL;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "kubectl");
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

const kubectlPath = findKubectl();
let f: KubeFixture;
let work: string;

function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(kubectlPath!, ["--kubeconfig", f.api.kubeconfigPath, "--cache-dir", join(work, "cache"), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function file(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.kubectl.example.com
spec:
  group: kubectl.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
    - name: v1
      served: true
      storage: true
      additionalPrinterColumns:
        - {name: Color, type: string, jsonPath: .spec.color}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                color: {type: string}
`;

const gadget = (name: string, color: string) => `apiVersion: kubectl.example.com/v1
kind: Gadget
metadata:
  name: ${name}
  namespace: default
spec:
  color: ${color}
`;

describe("sandbox kube: kubectl", { skip: kubectlPath ? false : "kubectl is not on PATH (CI installs Debian's kubernetes-client)" }, () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), "podid-kubectl-"));
    f = await startKubeFixture();
  });

  after(async () => f?.stop());

  it("kubectl get nodes lists the seeded nodes as Ready", async () => {
    const out = await ok("get", "nodes");
    assert.match(out, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION/m);
    assert.match(out, /aks-nodepool1-12345678-vmss000000\s+Ready/);
    assert.match(out, /aks-nodepool1-12345678-vmss000001\s+Ready/);
  });

  it("kubectl scale goes through the deployments/scale subresource; the Scale answers with the selector", async () => {
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: scaled, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: scaled}}
  template:
    metadata: {labels: {app: scaled}}
    spec: {containers: [{name: c, image: "nginx:1.27"}]}
`;
    await ok("apply", "-f", file("scaled.yaml", deployment));
    assert.match(await ok("scale", "deployment", "scaled", "--replicas=3"), /deployment.apps\/scaled scaled/);
    assert.equal((await ok("get", "deployment", "scaled", "-o", "jsonpath={.spec.replicas}")).trim(), "3");
    const scale = JSON.parse(await ok("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/scaled/scale")) as { kind: string; apiVersion: string; spec: { replicas: number }; status: { selector: string } };
    assert.deepEqual([scale.kind, scale.apiVersion, scale.spec.replicas, scale.status.selector], ["Scale", "autoscaling/v1", 3, "app=scaled"]);
    const refused = await kubectl("scale", "deployment", "scaled", "--replicas=-1");
    assert.notEqual(refused.code, 0);
    const resources = await ok("api-resources", "--api-group=apps", "-o", "name");
    assert.match(resources, /^deployments\.apps$/m);
  });

  it("applies a CRD, then custom objects, gets them with printer columns and deletes them", async () => {
    assert.match(await ok("apply", "-f", file("crd.yaml", CRD)), /customresourcedefinition.apiextensions.k8s.io\/gadgets.kubectl.example.com (created|configured|unchanged)/);
    const red = file("red.yaml", gadget("red", "red"));
    assert.match(await ok("apply", "-f", red), /gadget.kubectl.example.com\/red created/);
    assert.match(await ok("apply", "-f", red), /gadget.kubectl.example.com\/red unchanged/);
    assert.match(await ok("apply", "-f", file("red2.yaml", gadget("red", "crimson"))), /gadget.kubectl.example.com\/red configured/);
    const listed = await ok("get", "gadgets", "-A");
    assert.match(listed, /^NAMESPACE\s+NAME\s+COLOR\s+AGE/m);
    assert.match(listed, /^default\s+red\s+crimson\s+\d+s/m);
    assert.match(await ok("get", "gadget", "red", "-o", "jsonpath={.spec.color}"), /^crimson$/);
    assert.match(await ok("delete", "-f", red), /gadget.kubectl.example.com "red" deleted/);
    const gone = await kubectl("get", "gadget", "red");
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /NotFound|not found/);
  });

  it("kubectl apply --server-side creates and then reports conflicts", async () => {
    await ok("apply", "-f", file("crd.yaml", CRD));
    const blue = file("blue.yaml", gadget("blue", "blue"));
    assert.match(await ok("apply", "--server-side", "-f", blue), /gadget.kubectl.example.com\/blue serverside-applied/);
    assert.match(await ok("apply", "--server-side", "-f", blue), /serverside-applied/);
    const other = await kubectl("apply", "--server-side", "--field-manager", "someone-else", "-f", file("blue2.yaml", gadget("blue", "navy")));
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /conflict with "kubectl"/);
    assert.match(await ok("apply", "--server-side", "--force-conflicts", "--field-manager", "someone-else", "-f", join(work, "blue2.yaml")), /serverside-applied/);
    assert.match(await ok("get", "gadget", "blue", "-o", "jsonpath={.spec.color}"), /^navy$/);
  });

  it("server-side apply owns labels per key: kubectl create deployment, a label applied and unapplied by another manager, applied again (bind, unbind, bind)", async () => {
    assert.match(await ok("create", "deployment", "web", "--image=nginx:1.27"), /deployment.apps\/web created/);
    const labels = (entries: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  template:
    metadata:
      labels: {${entries}}
`;
    const bind = file("bind.yaml", labels("aadpodidbinding: demo"));
    const unbind = file("unbind.yaml", labels(""));
    const state = async () => {
      const d = JSON.parse(await ok("get", "deployment", "web", "-o", "json", "--show-managed-fields")) as { spec: { template: { metadata: { labels: Record<string, string> } } }; metadata: { managedFields: { manager: string; operation: string; fieldsV1: any }[] } };
      const fields = (manager: string) => d.metadata.managedFields.find((m) => m.manager === manager)?.fieldsV1;
      return { labels: d.spec.template.metadata.labels, podid: fields("podid"), created: fields("kubectl-create")?.["f:spec"]?.["f:template"]?.["f:metadata"]?.["f:labels"] };
    };
    const templateLabels = (set: object) => ({ "f:spec": { "f:template": { "f:metadata": { "f:labels": set } } } });

    assert.match(await ok("apply", "--server-side", "--field-manager=podid", "-f", bind), /deployment.apps\/web serverside-applied/);
    assert.deepEqual(await state(), { labels: { app: "web", aadpodidbinding: "demo" }, podid: templateLabels({ "f:aadpodidbinding": {} }), created: { "f:app": {} } });
    assert.match(await ok("apply", "--server-side", "--field-manager=podid", "-f", unbind), /serverside-applied/);
    assert.deepEqual(await state(), { labels: { app: "web" }, podid: templateLabels({}), created: { "f:app": {} } }, "only podid's own label goes; podid owns the (empty) map");
    assert.match(await ok("apply", "--server-side", "--field-manager=podid", "-f", bind), /serverside-applied/, "no 'selector does not match template labels'");
    assert.deepEqual(await state(), { labels: { app: "web", aadpodidbinding: "demo" }, podid: templateLabels({ "f:aadpodidbinding": {} }), created: { "f:app": {} } });
  });

  it("serves StatefulSets, Jobs and CronJobs as the other kinds, with kubectl's short forms (sts, cj, deploy, ds, po)", async () => {
    const resources = await ok("api-resources");
    assert.match(resources, /^statefulsets\s+sts\s+apps\/v1\s+true\s+StatefulSet$/m);
    assert.match(resources, /^jobs\s+batch\/v1\s+true\s+Job$/m);
    assert.match(resources, /^cronjobs\s+cj\s+batch\/v1\s+true\s+CronJob$/m);
    const openapi = JSON.parse(await ok("get", "--raw", "/openapi/v3")) as { paths: Record<string, unknown> };
    assert.ok(openapi.paths["apis/batch/v1"] && openapi.paths["apis/apps/v1"], Object.keys(openapi.paths).join(" "));
    const batchDoc = JSON.parse(await ok("get", "--raw", "/openapi/v3/apis/batch/v1")) as { components: { schemas: Record<string, unknown> } };
    assert.deepEqual(Object.keys(batchDoc.components.schemas).sort(), ["io.k8s.api.batch.v1.CronJob", "io.k8s.api.batch.v1.Job"]);
    const workloads = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: store, namespace: default}
spec:
  replicas: 1
  serviceName: store
  selector: {matchLabels: {app: store}}
  template:
    metadata: {labels: {app: store}}
    spec: {containers: [{name: c, image: "nginx:1.27"}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: OnFailure, containers: [{name: c, image: "nginx:1.27"}]}
`;
    const applied = await ok("apply", "-f", file("workloads.yaml", workloads));
    assert.match(applied, /statefulset.apps\/store (created|unchanged)/);
    assert.match(applied, /cronjob.batch\/nightly (created|unchanged)/);
    assert.match(await ok("create", "job", "once", "--image=nginx:1.27"), /job.batch\/once created/);
    const all = await ok("get", "sts,cj,job,deploy,ds,po");
    for (const line of [/^statefulset.apps\/store\s+0\/1\s/m, /^cronjob.batch\/nightly\s+0 3 \* \* \*\s+<none>\s+False\s+0\s+<none>\s/m, /^job.batch\/once\s+Running\s+0\/1\s/m]) assert.match(all, line);
    assert.match(await ok("get", "cj", "nightly"), /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE$/m);
    assert.match(await ok("get", "job", "once"), /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE$/m);
    assert.match(await ok("scale", "sts", "store", "--replicas=2"), /statefulset.apps\/store scaled/);
    assert.equal((await ok("get", "sts", "store", "-o", "jsonpath={.spec.replicas}")).trim(), "2");
    const badSchedule = await kubectl("create", "cronjob", "bad", "--image=nginx:1.27", "--schedule=every minute");
    assert.notEqual(badSchedule.code, 0);
    assert.match(badSchedule.stderr, /spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: \[every minute\]/);
    assert.match(await ok("delete", "cj", "nightly"), /cronjob.batch "nightly" deleted/);
  });

  it("deletes a scheduled pod gracefully, as kube-apiserver does: marked Terminating for its grace period, shortened by a later delete, removed at once by --force", async () => {
    const core = f.kc.makeApiClient(CoreV1Api);
    const node = (await core.listNode()).items[0].metadata!.name!;
    const scheduled = (name: string) => core.createNamespacedPod({ namespace: "default", body: { metadata: { name }, spec: { nodeName: node, terminationGracePeriodSeconds: 20, containers: [{ name: "app", image: "app:1" }] } } });
    await scheduled("graceful");
    const before = Date.now();
    const marked = await core.deleteNamespacedPod({ name: "graceful", namespace: "default" });
    assert.equal(marked.metadata?.deletionGracePeriodSeconds, 20);
    const at = new Date(marked.metadata!.deletionTimestamp!).getTime();
    assert.ok(at >= before + 18_000 && at <= Date.now() + 21_000, `deletionTimestamp is now + 20 s (${marked.metadata?.deletionTimestamp})`);
    assert.match(await ok("get", "pod", "graceful"), /Terminating/, "no kubelet has finished it: still there, Terminating");
    // A longer grace period never extends it; a shorter one shortens it.
    assert.equal((await core.deleteNamespacedPod({ name: "graceful", namespace: "default", gracePeriodSeconds: 60 })).metadata?.deletionGracePeriodSeconds, 20);
    assert.equal((await core.deleteNamespacedPod({ name: "graceful", namespace: "default", gracePeriodSeconds: 5 })).metadata?.deletionGracePeriodSeconds, 5);
    assert.match(await ok("delete", "pod", "graceful", "--grace-period=0", "--force"), /pod "graceful" force deleted/);
    assert.equal((await kubectl("get", "pod", "graceful")).code, 1, "gone at once");

    // Pods no node runs, and pods that have finished, go at once.
    await core.createNamespacedPod({ namespace: "default", body: { metadata: { name: "unscheduled" }, spec: { containers: [{ name: "app", image: "app:1" }] } } });
    assert.match(await ok("delete", "pod", "unscheduled"), /pod "unscheduled" deleted/);
    const done = await scheduled("finished");
    await core.replaceNamespacedPodStatus({ name: "finished", namespace: "default", body: { ...done, status: { phase: "Succeeded" } } });
    await core.deleteNamespacedPod({ name: "finished", namespace: "default" });
    assert.equal((await kubectl("get", "pod", "unscheduled")).code, 1);
    assert.equal((await kubectl("get", "pod", "finished")).code, 1);
  });

  it("applies built-in kinds and shows them", async () => {
    const pod = file("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n    - name: app\n      image: nginx:1.25\n");
    assert.match(await ok("apply", "-f", pod), /pod\/web created/);
    assert.match(await ok("get", "pods", "-l", "app=web"), /^web\s+0\/1\s+Pending\s+0\s+/m);
    assert.match(await ok("delete", "pod", "web"), /pod "web" deleted/);
    assert.match(await ok("auth", "can-i", "create", "pods"), /yes/);
  });
});
