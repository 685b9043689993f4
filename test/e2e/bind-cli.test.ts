import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AppsV1Api, BatchV1Api, CustomObjectsApi, type ApiException } from "@kubernetes/client-node";
import { runPodid, runShell } from "../helpers/cli.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { startKubeFixture, type KubeFixture } from "../helpers/kube-api.js";

// bind, unbind and exception need only the cluster: these run the CLI against the sandbox Kubernetes API alone.
let kube: KubeFixture;
let custom: CustomObjectsApi;
let apps: AppsV1Api;
const GROUP = "aadpodidentity.k8s.io";
const podid = (args: string[]) => runPodid(args, { env: { KUBECONFIG: kube.api.kubeconfigPath } });

async function deployment(name: string, namespace = "default") {
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name },
      spec: {
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: "example/app:1" }] } },
      },
    },
  });
}

async function identity(name: string, namespace = "default") {
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: "v1",
    namespace,
    plural: "azureidentities",
    body: { apiVersion: `${GROUP}/v1`, kind: "AzureIdentity", metadata: { name }, spec: { type: 0, resourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name, clientID: "00000000-0000-0000-0000-000000000001" } },
  });
}

before(async () => {
  kube = await startKubeFixture();
  await applyShippedCrds(kube.kc);
  custom = kube.kc.makeApiClient(CustomObjectsApi);
  apps = kube.kc.makeApiClient(AppsV1Api);
});

after(async () => kube?.stop());

test("bind applies the binding and labels the deployment's pods; a re-run is unchanged", async () => {
  await identity("web-id");
  await deployment("web");
  const r = await podid(["bind", "--selector", "web", "--identity", "web-id", "--namespace", "default", "--label", "deployment/web"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.steps.map((s: { outcome: string }) => s.outcome), ["created", "updated"]);
  assert.match(r.stderr, /no pod in 'default' carries aadpodidbinding=web yet/);
  const binding = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "web-id-binding" })) as { spec: unknown };
  assert.deepEqual(binding.spec, { azureIdentity: "web-id", selector: "web" });
  const web = await apps.readNamespacedDeployment({ name: "web", namespace: "default" });
  assert.equal(web.spec?.template.metadata?.labels?.aadpodidbinding, "web");
  assert.equal(web.spec?.template.metadata?.labels?.app, "web", "other labels are kept");
  const again = await podid(["bind", "--selector", "web", "--identity", "web-id", "--namespace", "default", "--label", "deployment/web"]);
  assert.ok(JSON.parse(again.stdout).steps.every((s: { outcome: string }) => s.outcome === "unchanged"), again.stdout);
});

test("bind warns when the selector is already bound in another namespace", async () => {
  await kube.kc.makeApiClient((await import("@kubernetes/client-node")).CoreV1Api).createNamespace({ body: { metadata: { name: "team-b" } } });
  await identity("other-id", "team-b");
  const r = await podid(["bind", "--selector", "web", "--identity", "other-id", "--namespace", "team-b"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /selector 'web' is also bound in namespace\(s\) default/);
});

test("--dry-run -o yaml prints the manifests and changes nothing", async () => {
  await identity("dry-id");
  const r = await podid(["bind", "--selector", "dry", "--identity", "dry-id", "--dry-run", "-o", "yaml"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kind: AzureIdentityBinding[\s\S]*selector: dry/);
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "dry-id-binding" }));
});

test("bind to an identity that does not exist is 'not found' (exit 3) and makes nothing", async () => {
  const r = await podid(["bind", "--selector", "x", "--identity", "no-such-id"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^ERROR: AzureIdentity 'no-such-id' does not exist in namespace 'default'/);
  assert.match(r.stderr, /podid identity add -n no-such-id/);
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "no-such-id-binding" }));
});

test("unbind deletes the binding and takes podid's label off, leaving the rest", async () => {
  const r = await podid(["unbind", "--identity", "web-id", "--label", "deployment/web"]);
  assert.equal(r.code, 0, r.stderr);
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "web-id-binding" }));
  const web = await apps.readNamespacedDeployment({ name: "web", namespace: "default" });
  assert.equal(web.spec?.template.metadata?.labels?.aadpodidbinding, undefined);
  assert.equal(web.spec?.template.metadata?.labels?.app, "web");
});

const kubectl = (args: string) => runShell(`kubectl ${args}`, { env: { KUBECONFIG: kube.api.kubeconfigPath } });
const templateLabels = async (name: string) => (await apps.readNamespacedDeployment({ name, namespace: "default" })).spec?.template.metadata?.labels;

test("bind, unbind, bind on a Deployment made with kubectl create deployment: each completes and kubectl's labels stay", async () => {
  assert.equal((await kubectl("create deployment shop --image=example/shop:1")).code, 0);
  await identity("shop-id");
  const bindArgs = ["bind", "--selector", "shop", "--identity", "shop-id", "--label", "deployment/shop"];
  const first = await podid(bindArgs);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(await templateLabels("shop"), { app: "shop", aadpodidbinding: "shop" });
  const unbound = await podid(["unbind", "--identity", "shop-id", "--label", "deployment/shop"]);
  assert.equal(unbound.code, 0, unbound.stderr);
  assert.deepEqual(await templateLabels("shop"), { app: "shop" }, "podid's label is gone, kubectl-create's app=shop stays");
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "shop-id-binding" }));
  const again = await podid(bindArgs);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await templateLabels("shop"), { app: "shop", aadpodidbinding: "shop" });
  const binding = (await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "shop-id-binding" })) as { spec: unknown };
  assert.deepEqual(binding.spec, { azureIdentity: "shop-id", selector: "shop" });
  const rollout = await kubectl("get deployment shop -o jsonpath={.spec.selector.matchLabels.app}");
  assert.equal(rollout.stdout, "shop", "the selector still matches the template");
});

test("bind refuses to re-point an existing binding, naming the pods that would lose their identity; --force re-points it", async () => {
  await kube.kc.makeApiClient((await import("@kubernetes/client-node")).CoreV1Api).createNamespacedPod({
    namespace: "default",
    body: { metadata: { name: "shop-pod", labels: { aadpodidbinding: "shop" } }, spec: { nodeName: "aks-nodepool1-12345678-vmss000000", containers: [{ name: "app", image: "example/shop:1" }] } },
  });
  await identity("web2-id");
  const bindingNow = async () => ((await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "shop-id-binding" })) as { spec: unknown }).spec;

  const otherSelector = await podid(["bind", "--selector", "web2", "--identity", "shop-id"]);
  assert.equal(otherSelector.code, 2, otherSelector.stderr);
  assert.match(otherSelector.stderr, /^ERROR: AzureIdentityBinding default\/shop-id-binding binds selector 'shop' to AzureIdentity 'shop-id'; changing its selector 'shop' to 'web2' re-points it: pod default\/shop-pod would lose identity 'shop-id'\nPass --force to re-point it anyway, or give the new binding a name of its own \(--name NAME\)/);
  const otherIdentity = await podid(["bind", "--selector", "shop", "--identity", "web2-id", "--name", "shop-id-binding"]);
  assert.equal(otherIdentity.code, 2, otherIdentity.stderr);
  assert.match(otherIdentity.stderr, /changing its AzureIdentity 'shop-id' to 'web2-id' re-points it: pod default\/shop-pod would lose identity 'shop-id'/);
  const dryRun = await podid(["bind", "--selector", "web2", "--identity", "shop-id", "--dry-run"]);
  assert.equal(dryRun.code, 2, "a dry run says the same");
  assert.deepEqual(await bindingNow(), { azureIdentity: "shop-id", selector: "shop" }, "nothing changed");

  const forced = await podid(["bind", "--selector", "web2", "--identity", "shop-id", "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /WARNING: AzureIdentityBinding default\/shop-id-binding .* re-points it: pod default\/shop-pod loses identity 'shop-id'/);
  assert.deepEqual(await bindingNow(), { azureIdentity: "shop-id", selector: "web2" });
  assert.equal((await podid(["bind", "--selector", "web2", "--identity", "shop-id"])).code, 0, "the same binding again is no re-point");
});

test("a created Job's pod template is immutable (kube-apiserver's 422): bind --label job/NAME says what to do and makes nothing; a suspended Job that never started takes the label", async () => {
  const batch = kube.kc.makeApiClient(BatchV1Api);
  const job = (name: string, suspend: boolean) =>
    batch.createNamespacedJob({ namespace: "default", body: { metadata: { name }, spec: { suspend, template: { metadata: { labels: { app: name } }, spec: { restartPolicy: "Never", containers: [{ name: "app", image: "example/app:1" }] } } } } });
  await identity("job-id");
  const j1 = await job("j1", false);

  // The API server's own refusal, as a client sees it.
  const changed = structuredClone(j1);
  changed.spec!.template.metadata!.labels = { ...changed.spec!.template.metadata!.labels, extra: "x" };
  const refusal = await batch.replaceNamespacedJob({ name: "j1", namespace: "default", body: changed }).then(
    () => assert.fail("a Job's template was changed"),
    (e: ApiException<string>) => e,
  );
  assert.equal(refusal.code, 422);
  const status = JSON.parse(refusal.body) as { reason: string; message: string; details: { name: string; group: string; kind: string; causes: { reason: string; field: string; message: string }[] } };
  assert.equal(status.reason, "Invalid");
  assert.match(status.message, /^Job\.batch "j1" is invalid: spec\.template: Invalid value: .*: field is immutable$/);
  assert.deepEqual(status.details.causes.map((c) => [c.reason, c.field]), [["FieldValueInvalid", "spec.template"]]);

  const r = await podid(["bind", "--selector", "jobs", "--identity", "job-id", "--namespace", "default", "--label", "job/j1"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^ERROR: Job default\/j1 cannot be labelled: the API server refuses changes to a Job's pod template once it is created \(field is immutable\)\n.*Label the CronJob that makes it \(--label cronjob\/NAME\), or re-create the Job from a manifest whose pod template has the label aadpodidbinding: jobs\./);
  await assert.rejects(custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azureidentitybindings", name: "job-id-binding" }), "nothing is made");
  assert.equal((await batch.readNamespacedJob({ name: "j1", namespace: "default" })).spec?.template.metadata?.labels?.aadpodidbinding, undefined);

  await job("j2", true);
  const ok = await podid(["bind", "--selector", "jobs", "--identity", "job-id", "--namespace", "default", "--label", "job/j2"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await batch.readNamespacedJob({ name: "j2", namespace: "default" })).spec?.template.metadata?.labels?.aadpodidbinding, "jobs");
});

test("exception add, list and delete; add twice is unchanged, delete twice is fine", async () => {
  const add = await podid(["exception", "add", "--name", "dns", "--namespace", "kube-system", "--pod-labels", "k8s-app=kube-dns"]);
  assert.equal(add.code, 0, add.stderr);
  assert.equal(JSON.parse(add.stdout).steps[0].outcome, "created");
  assert.equal(JSON.parse((await podid(["exception", "add", "--name", "dns", "--namespace", "kube-system", "--pod-labels", "k8s-app=kube-dns"])).stdout).steps[0].outcome, "unchanged");
  const list = JSON.parse((await podid(["exception", "list", "-A"])).stdout);
  assert.deepEqual(list, [{ name: "dns", namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } }]);
  assert.equal(JSON.parse((await podid(["exception", "delete", "--name", "dns", "--namespace", "kube-system"])).stdout).steps[0].outcome, "deleted");
  assert.equal(JSON.parse((await podid(["exception", "delete", "--name", "dns", "--namespace", "kube-system"])).stdout).steps[0].outcome, "absent");
});
