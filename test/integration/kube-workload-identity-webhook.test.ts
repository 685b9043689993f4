import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { workloadIdentityWebhook } from "../../src/sandbox/kube/index.js";
import { rejected, startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";

/**
 * AKS's workload identity webhook as the sandbox API server runs it on pod creation: for a cluster with workload
 * identity enabled, exactly what azure-workload-identity v1.5.1/v1.6 injects into pods labelled
 * `azure.workload.identity/use: "true"`, with the annotations it honours; nothing for other pods or clusters.
 */

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AUTHORITY = "https://login.example.test/";
const PROXY_INIT = "mcr.microsoft.com/oss/azure/workload-identity/proxy-init:v1.5.1";
const PROXY = "ghcr.io/podid/podid-runtime:9.9.9";
const CLIENT_ID = "0e4c1a5d-5f2b-4c5e-9e4b-6a6f0c6f2f11";
let enabled = true;
let f: KubeFixture;
let core: CoreV1Api;

before(async () => {
  f = await startKubeFixture({
    admission: [workloadIdentityWebhook({ enabled: () => enabled, tenantId: TENANT, authorityHost: AUTHORITY, proxyInitImage: PROXY_INIT, proxyImage: PROXY })],
  });
  core = f.kc.makeApiClient(CoreV1Api);
});
after(async () => f?.stop());

/** client-node returns model classes; compare their JSON, as the API server sent it. */
const plain = (value: unknown) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

async function serviceAccount(annotations: Record<string, string> = { "azure.workload.identity/client-id": CLIENT_ID }): Promise<string> {
  const name = uniqueName("wi");
  await core.createNamespacedServiceAccount({ namespace: "default", body: { metadata: { name, annotations } } });
  return name;
}

function pod(sa: string, options: { labelled?: boolean; annotations?: Record<string, string>; containers?: V1Pod["spec"] extends infer S ? S extends { containers: infer C } ? C : never : never; hostNetwork?: boolean } = {}): V1Pod {
  return {
    metadata: { name: uniqueName("pod"), labels: options.labelled === false ? { app: "x" } : { app: "x", "azure.workload.identity/use": "true" }, annotations: options.annotations },
    spec: { serviceAccountName: sa, hostNetwork: options.hostNetwork, containers: options.containers ?? [{ name: "app", image: "ghcr.io/podid/podid-demo:1" }] },
  };
}

const TOKEN_VOLUME = {
  name: "azure-identity-token",
  projected: { defaultMode: 420, sources: [{ serviceAccountToken: { audience: "api://AzureADTokenExchange", expirationSeconds: 3600, path: "azure-identity-token" } }] },
};
const MOUNT = { mountPath: "/var/run/secrets/azure/tokens", name: "azure-identity-token", readOnly: true };
const env = (clientId = CLIENT_ID, tenant = TENANT) => [
  { name: "AZURE_CLIENT_ID", value: clientId },
  { name: "AZURE_TENANT_ID", value: tenant },
  { name: "AZURE_FEDERATED_TOKEN_FILE", value: "/var/run/secrets/azure/tokens/azure-identity-token" },
  { name: "AZURE_AUTHORITY_HOST", value: AUTHORITY },
];

test("a labelled pod gets exactly upstream's environment, mount and projected token volume; existing variables are kept", async () => {
  const sa = await serviceAccount();
  const created = await core.createNamespacedPod({
    namespace: "default",
    body: pod(sa, { containers: [{ name: "app", image: "ghcr.io/podid/podid-demo:1" }, { name: "side", image: "x:1", env: [{ name: "AZURE_TENANT_ID", value: "mine" }] }] }),
  });
  const [app, side] = created.spec!.containers;
  assert.deepEqual(plain(app.env), env());
  assert.deepEqual(plain(app.volumeMounts), [MOUNT]);
  assert.deepEqual(plain(side.env), [{ name: "AZURE_TENANT_ID", value: "mine" }, ...env().filter((e) => e.name !== "AZURE_TENANT_ID")]);
  assert.deepEqual(plain(created.spec!.volumes), [TOKEN_VOLUME]);
  assert.equal(created.spec!.initContainers, undefined, "no proxy unless asked for");
});

test("nothing is injected for an unlabelled pod, or for any pod while the cluster has workload identity off", async () => {
  const sa = await serviceAccount();
  const plain = await core.createNamespacedPod({ namespace: "default", body: pod(sa, { labelled: false }) });
  assert.equal(plain.spec!.containers[0].env, undefined);
  assert.equal(plain.spec!.volumes, undefined);
  enabled = false;
  try {
    const off = await core.createNamespacedPod({ namespace: "default", body: pod(sa) });
    assert.equal(off.spec!.containers[0].env, undefined);
    assert.equal(off.spec!.volumes, undefined);
  } finally {
    enabled = true;
  }
});

test("the ServiceAccount's tenant-id overrides the cluster's; an empty client-id or tenant-id is left out (upstream since v1.5.1); the expiration comes from the pod, else the ServiceAccount", async () => {
  const sa = await serviceAccount({ "azure.workload.identity/tenant-id": "other-tenant", "azure.workload.identity/service-account-token-expiration": "7200" });
  const fromSa = await core.createNamespacedPod({ namespace: "default", body: pod(sa) });
  assert.deepEqual(plain(fromSa.spec!.containers[0].env), env(undefined, "other-tenant").filter((e) => e.name !== "AZURE_CLIENT_ID"));
  assert.equal(fromSa.spec!.volumes![0].projected!.sources![0].serviceAccountToken!.expirationSeconds, 7200);
  const fromPod = await core.createNamespacedPod({ namespace: "default", body: pod(sa, { annotations: { "azure.workload.identity/service-account-token-expiration": "86400" } }) });
  assert.equal(fromPod.spec!.volumes![0].projected!.sources![0].serviceAccountToken!.expirationSeconds, 86400);
  // Upstream since v1.5.1 appends no variable whose value is empty: an empty client-id or tenant-id annotation (the
  // tenant-id one, present, wins over the cluster's) leaves both out, and a container's own empty variable stays.
  const empty = await serviceAccount({ "azure.workload.identity/client-id": "", "azure.workload.identity/tenant-id": "" });
  const noIds = await core.createNamespacedPod({
    namespace: "default",
    body: pod(empty, { containers: [{ name: "app", image: "a:1" }, { name: "own", image: "b:1", env: [{ name: "AZURE_CLIENT_ID", value: "" }] }] }),
  });
  const [app, own] = noIds.spec!.containers;
  const rest = env().filter((e) => e.name !== "AZURE_CLIENT_ID" && e.name !== "AZURE_TENANT_ID");
  assert.deepEqual(plain(app.env), rest);
  assert.deepEqual(plain(own.env), [{ name: "AZURE_CLIENT_ID", value: "" }, ...rest]);
});

test("skip-containers leaves the named containers alone", async () => {
  const sa = await serviceAccount();
  const created = await core.createNamespacedPod({
    namespace: "default",
    body: pod(sa, { annotations: { "azure.workload.identity/skip-containers": "legacy; other" }, containers: [{ name: "legacy", image: "a:1" }, { name: "app", image: "b:1" }] }),
  });
  const [legacy, app] = created.spec!.containers;
  assert.equal(legacy.env, undefined);
  assert.equal(legacy.volumeMounts, undefined);
  assert.deepEqual(plain(app.env), env());
  assert.deepEqual(plain(created.spec!.volumes), [TOKEN_VOLUME]);
});

test("inject-proxy-sidecar adds upstream's proxy-init and the proxy sidecar (podid's runtime image) on the port asked for", async () => {
  const sa = await serviceAccount();
  const created = await core.createNamespacedPod({
    namespace: "default",
    body: pod(sa, { annotations: { "azure.workload.identity/inject-proxy-sidecar": "true", "azure.workload.identity/proxy-sidecar-port": "8123" } }),
  });
  const [init] = created.spec!.initContainers!;
  assert.equal(init.name, "azwi-proxy-init");
  assert.equal(init.image, PROXY_INIT);
  assert.deepEqual(plain(init.securityContext), { capabilities: { add: ["NET_ADMIN"], drop: ["ALL"] }, privileged: true, runAsNonRoot: false, runAsUser: 0 });
  assert.deepEqual(plain(init.env), [{ name: "PROXY_PORT", value: "8123" }, ...env()]);
  const [proxy, app] = created.spec!.containers;
  assert.equal(proxy.name, "azwi-proxy", "the sidecar comes first");
  assert.equal(proxy.image, PROXY);
  assert.deepEqual(plain(proxy.args), ["runtime", "proxy", "--proxy-port=8123", "--log-level=info"]);
  assert.deepEqual(plain(proxy.ports), [{ containerPort: 8123, protocol: "TCP" }]);
  assert.deepEqual(plain(proxy.lifecycle), { postStart: { exec: { command: ["podid", "runtime", "proxy", "--proxy-port=8123", "--probe", "--log-level=info"] } } });
  assert.equal(proxy.securityContext!.runAsUser, 1501, "the uid proxy-init exempts from the redirect");
  assert.deepEqual(plain(proxy.env), env());
  assert.deepEqual(plain(app.env), env());
});

test("the webhook's refusals, worded as the API server relays them", async () => {
  const sa = await serviceAccount();
  const denied = (message: string) => `admission webhook "mutation.azure-workload-identity.io" denied the request: ${message}`;
  const short = await rejected(core.createNamespacedPod({ namespace: "default", body: pod(sa, { annotations: { "azure.workload.identity/service-account-token-expiration": "100" } }) }));
  assert.equal(short.code, 400);
  assert.equal(short.message, denied("token expiration 100 not valid. Expected value to be between 3600 and 86400"));
  const port = await rejected(core.createNamespacedPod({ namespace: "default", body: pod(sa, { annotations: { "azure.workload.identity/inject-proxy-sidecar": "true", "azure.workload.identity/proxy-sidecar-port": "http" } }) }));
  assert.equal(port.message, denied('failed to parse proxy sidecar port: strconv.ParseInt: parsing "http": invalid syntax'));
  const host = await rejected(core.createNamespacedPod({ namespace: "default", body: pod(sa, { hostNetwork: true, annotations: { "azure.workload.identity/inject-proxy-sidecar": "true" } }) }));
  assert.equal(host.message, denied("hostNetwork is set to true, cannot inject proxy sidecar"));
  const noSa = await rejected(core.createNamespacedPod({ namespace: "default", body: pod("missing-sa") }));
  assert.equal(noSa.code, 403, "the ServiceAccount admission plugin runs first");
  assert.equal((await core.listNamespacedPod({ namespace: "default", labelSelector: "app=x" })).items.filter((p) => p.spec?.serviceAccountName === "missing-sa").length, 0, "nothing half-made");
});

test("a pod the webhook's mutation makes invalid is refused as kube-apiserver refuses it: a second azure-identity-token volume, a second mount at the token path, a proxy port out of range", async () => {
  const sa = await serviceAccount();
  const invalid = (name: string, causes: string) => `Pod "${name}" is invalid: ${causes}`;
  const refuse = async (body: V1Pod, causes: string) => {
    const answer = await rejected(core.createNamespacedPod({ namespace: "default", body }));
    assert.equal(answer.code, 422);
    assert.equal(answer.reason, "Invalid");
    assert.equal(answer.message, invalid(body.metadata!.name!, causes));
    assert.equal((await rejected(core.readNamespacedPod({ namespace: "default", name: body.metadata!.name! }))).code, 404, "nothing stored");
  };

  // Upstream adds its volume unless one projects a token to `azure-identity-token`; a volume of that name that
  // does not is a duplicate.
  const ownVolume = pod(sa);
  ownVolume.spec!.volumes = [{ name: "azure-identity-token", emptyDir: {} }];
  await refuse(ownVolume, 'spec.volumes[1].name: Duplicate value: "azure-identity-token"');

  // Upstream adds its mount unless one is named `azure-identity-token`; another volume mounted at the token path clashes.
  const ownMount = pod(sa, { containers: [{ name: "app", image: "ghcr.io/podid/podid-demo:1", volumeMounts: [{ name: "tokens", mountPath: "/var/run/secrets/azure/tokens" }] }] });
  ownMount.spec!.volumes = [{ name: "tokens", emptyDir: {} }];
  await refuse(ownMount, 'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/var/run/secrets/azure/tokens": must be unique');

  // 70000 parses as an int32, so upstream's webhook accepts it and puts it on the sidecar: the API server refuses.
  const bigPort = pod(sa, { annotations: { "azure.workload.identity/inject-proxy-sidecar": "true", "azure.workload.identity/proxy-sidecar-port": "70000" } });
  await refuse(bigPort, "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive");
  const zero = pod(sa, { annotations: { "azure.workload.identity/inject-proxy-sidecar": "true", "azure.workload.identity/proxy-sidecar-port": "0" } });
  await refuse(zero, "spec.containers[0].ports[0].containerPort: Required value");
});

test("pods are validated as kube-apiserver validates them with or without the webhook: volume names, mount paths and volumes, ports", async () => {
  const sa = await serviceAccount();
  const body: V1Pod = {
    metadata: { name: uniqueName("bad") },
    spec: {
      serviceAccountName: sa,
      volumes: [{ name: "data", emptyDir: {} }, { name: "data", emptyDir: {} }],
      containers: [{ name: "app", image: "a:1", ports: [{ containerPort: 65536 }, { containerPort: 80, hostPort: -1 }], volumeMounts: [{ name: "data", mountPath: "/d" }, { name: "nope", mountPath: "/d" }] }],
    },
  };
  const answer = await rejected(core.createNamespacedPod({ namespace: "default", body }));
  assert.equal(answer.code, 422);
  assert.equal(
    answer.message,
    `Pod "${body.metadata!.name}" is invalid: [spec.volumes[1].name: Duplicate value: "data", spec.containers[0].ports[0].containerPort: Invalid value: 65536: must be between 1 and 65535, inclusive, spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive, spec.containers[0].volumeMounts[1].name: Not found: "nope", spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique]`,
  );
  assert.deepEqual(answer.details.causes.map((c: { reason: string; field: string }) => [c.reason, c.field]), [
    ["FieldValueDuplicate", "spec.volumes[1].name"],
    ["FieldValueInvalid", "spec.containers[0].ports[0].containerPort"],
    ["FieldValueInvalid", "spec.containers[0].ports[1].hostPort"],
    ["FieldValueNotFound", "spec.containers[0].volumeMounts[1].name"],
    ["FieldValueInvalid", "spec.containers[0].volumeMounts[1].mountPath"],
  ]);
});
