import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { AppsV1Api, CoreV1Api, type V1Deployment } from "@kubernetes/client-node";
import { PACKAGE_VERSION } from "../../src/util/package-info.js";
import { DEMO_IMAGE } from "../../src/render/install.js";
import type { DoctorReport } from "../../src/core/doctor/model.js";
import { runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { assertStatus, checkOf, findingOf, runDoctor } from "../helpers/doctor.js";
import { eventually } from "../helpers/eventually.js";

// podid doctor's workload identity checks, each broken and fixed on the sandbox as a user meets it: 21 the
// cluster's switches, 22 the webhook's injection (label on the Deployment, ServiceAccount not annotated), 23 no
// federated credential for the pod's subject (a renamed ServiceAccount: AADSTS70021), 24 an identity near 20
// credentials, 25 a pod whose token the kubelet can no longer refresh. (26, a workload on both paths after finish,
// is in migrate.test.ts, where podid finishes one.)

let sb: SandboxFixture;
let clients: ReturnType<typeof sandboxClients>;
let apps: AppsV1Api;
let core: CoreV1Api;
let issuer = "";
let identity: { name: string; id: string; clientId: string };
const NS = "default";
const ARM = () => ({ endpoint: sb.info.endpoints.resourceManager, credentialScopes: [`${sb.info.endpoints.activeDirectoryResourceId}.default`] });

const doctorUntil = (id: string, status: string, args: string[] = ["--namespace", NS]): Promise<DoctorReport> =>
  eventually(
    `check ${id} ${status}`,
    async () => {
      const r = await runDoctor(sb, args);
      assert.equal(checkOf(r.report, id).status, status, JSON.stringify(checkOf(r.report, id), null, 1).slice(0, 3000));
      return r.report;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );

async function kubectl(args: string): Promise<void> {
  const r = await runShell(`kubectl ${args}`, { env: sb.env });
  assert.equal(r.code, 0, `kubectl ${args}: ${r.stderr}`);
}

function deployment(name: string, sa: string, options: { templateLabel?: boolean; workloadLabel?: boolean } = { templateLabel: true }): V1Deployment {
  return {
    metadata: { name, namespace: NS, ...(options.workloadLabel ? { labels: { "azure.workload.identity/use": "true" } } : {}) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...(options.templateLabel ? { "azure.workload.identity/use": "true" } : {}) } },
        spec: { serviceAccountName: sa, containers: [{ name: "demo", image: `${DEMO_IMAGE}:${PACKAGE_VERSION}`, args: ["--subscription-id", sb.info.subscriptionId, "--resource-group", sb.info.nodeResourceGroup, "--interval", "1h"] }] },
      },
    },
  };
}

const serviceAccount = (name: string, clientId?: string) => core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name, annotations: clientId ? { "azure.workload.identity/client-id": clientId } : undefined } } });
/** Waits until the workload's pods are all of its current template (a rollout done), and returns them. */
const podsOf = (app: string, count = 1) =>
  eventually(`${app}'s pods`, async () => {
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
    assert.equal(pods.length, count);
    return pods;
  });
const deleteDeployment = (name: string) => apps.deleteNamespacedDeployment({ name, namespace: NS });

before(async () => {
  sb = await startSandbox({ nodes: 1 });
  clients = sandboxClients(sb);
  apps = clients.kc.makeApiClient(AppsV1Api);
  core = clients.kc.makeApiClient(CoreV1Api);
  const created = await clients.msi.userAssignedIdentities.createOrUpdate(sb.info.resourceGroup, `wi-${randomUUID().slice(0, 6)}`, { location: sb.info.location });
  identity = { name: created.name!, id: created.id!, clientId: created.clientId! };
});
after(async () => sb?.stop());

test("21-22. nothing uses workload identity: ok; a labelled pod on a cluster without it fails both with the az aks update line, and after it, the restart", async () => {
  for (const id of ["wi-cluster", "wi-injection", "wi-federation", "wi-credential-limit", "wi-token", "wi-migration"]) assertStatus((await runDoctor(sb, ["--namespace", NS])).report, id, "ok");
  await serviceAccount("early", identity.clientId);
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment("early", "early") });
  await podsOf("early");
  const r = await runDoctor(sb, ["--namespace", NS]);
  const c = findingOf(r.report, "wi-cluster", /does not have workload identity enabled/);
  assert.equal(c.fix, `az aks update -g ${sb.info.resourceGroup} -n ${sb.info.clusterName} --enable-oidc-issuer --enable-workload-identity`);
  findingOf(r.report, "wi-cluster", /has no OIDC issuer/);
  const i = findingOf(r.report, "wi-injection", /Pod default\/early-\S+ is labelled azure.workload.identity\/use=true but no container has AZURE_FEDERATED_TOKEN_FILE: .*workload identity is not enabled on the cluster/);
  assert.equal(i.fix, `kubectl rollout restart deployment early -n ${NS}`);
  // The az line, as az sends it.
  const aks = new ContainerServiceClient(clients.credential, sb.info.subscriptionId, ARM()).managedClusters;
  const cluster = await aks.get(sb.info.resourceGroup, sb.info.clusterName);
  issuer = (await aks.beginCreateOrUpdateAndWait(sb.info.resourceGroup, sb.info.clusterName, { ...cluster, oidcIssuerProfile: { enabled: true }, securityProfile: { workloadIdentity: { enabled: true } } }, { updateIntervalInMs: 100 })).oidcIssuerProfile!.issuerURL!;
  const after = await runDoctor(sb, ["--namespace", NS]);
  assertStatus(after.report, "wi-cluster", "ok");
  findingOf(after.report, "wi-injection", /it was created before the webhook ran/);
  await kubectl(i.fix!.replace(/^kubectl /, ""));
  await doctorUntil("wi-injection", "ok");
  await deleteDeployment("early");
});

test("22. the label on the Deployment instead of its pod template, and a ServiceAccount without client id: each fails with its fix", async () => {
  await serviceAccount("top", identity.clientId);
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment("top", "top", { workloadLabel: true }) });
  const f = findingOf((await runDoctor(sb, ["--namespace", NS])).report, "wi-injection", /Deployment default\/top is labelled azure.workload.identity\/use=true itself, not its pod template/);
  await kubectl(f.fix!.replace(/^kubectl /, ""));
  await doctorUntil("wi-injection", "ok");
  const pod = (await podsOf("top"))[0];
  assert.ok(pod.spec!.containers[0].env!.some((e) => e.name === "AZURE_FEDERATED_TOKEN_FILE"), "now injected");
  await deleteDeployment("top");

  await serviceAccount("bare");
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment("bare", "bare") });
  await podsOf("bare");
  const g = findingOf((await runDoctor(sb, ["--namespace", NS])).report, "wi-injection", /Pod default\/bare-\S+ has no AZURE_CLIENT_ID: its ServiceAccount default\/bare has no azure.workload.identity\/client-id annotation/);
  assert.ok(g.errors.includes("AZURE_CLIENT_ID"));
  assert.equal(g.fix, `kubectl annotate serviceaccount bare -n ${NS} azure.workload.identity/client-id=<identity client id> && kubectl rollout restart deployment bare -n ${NS}`);
  for (const part of g.fix!.replace("<identity client id>", identity.clientId).split(" && ")) await kubectl(part.replace(/^kubectl /, ""));
  await doctorUntil("wi-injection", "ok");
  await deleteDeployment("bare");
});

test("23. a ServiceAccount renamed after its credential was made: AADSTS70021 with the near miss named; the az command it prints fixes it, and --probe exchanges a token", async () => {
  await serviceAccount("app", identity.clientId);
  await clients.msi.federatedIdentityCredentials.createOrUpdate(sb.info.resourceGroup, identity.name, "app-credential", { issuer, subject: `system:serviceaccount:${NS}:app`, audiences: ["api://AzureADTokenExchange"] });
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment("renamed", "app") });
  await podsOf("renamed");
  assertStatus((await runDoctor(sb, ["--namespace", NS])).report, "wi-federation", "ok");
  // The workload moves to a new ServiceAccount, annotated like the old one; nobody federates it.
  await serviceAccount("app-v2", identity.clientId);
  await kubectl(`patch deployment renamed -n ${NS} --type merge -p '{"spec":{"template":{"spec":{"serviceAccountName":"app-v2"}}}}'`);
  await eventually("the new pod runs as app-v2", async () => (await podsOf("renamed"))[0].spec?.serviceAccountName === "app-v2");
  const report = await doctorUntil("wi-federation", "fail");
  const f = findingOf(report, "wi-federation", new RegExp(`runs as system:serviceaccount:default:app-v2 with identity ${identity.name} .* Entra ID answers AADSTS70021; credential app-credential names system:serviceaccount:default:app`));
  assert.ok(f.errors.includes("AADSTS70021"));
  // The az command, as az sends it.
  const args = Object.fromEntries([...f.fix!.matchAll(/--([\w-]+) (\S+)/g)].map((m) => [m[1], m[2].replace(/^'(.*)'$/, "$1")]));
  assert.deepEqual([args["identity-name"], args["resource-group"], args.issuer, args.subject, args.audience], [identity.name, sb.info.resourceGroup, issuer, `system:serviceaccount:${NS}:app-v2`, "api://AzureADTokenExchange"]);
  await clients.msi.federatedIdentityCredentials.createOrUpdate(args["resource-group"], args["identity-name"], args.name, { issuer: args.issuer, subject: args.subject, audiences: [args.audience] });
  const pod = (await podsOf("renamed"))[0].metadata!.name!;
  const probed = await doctorUntil("wi-federation", "ok", ["--namespace", NS, "--probe", "--pod", pod]);
  assert.deepEqual((checkOf(probed, "wi-federation").observed[`${NS}/${pod}`] as { exchange: { status: string } }).exchange.status, "ok");
  assert.doesNotMatch(JSON.stringify(probed), /eyJ[\w-]+\.eyJ/, "no token in the report");
  await deleteDeployment("renamed");
});

test("24. an identity at 18 of 20 credentials warns with the commands to list and delete; below, ok", async () => {
  await serviceAccount("crowded", identity.clientId);
  const existing: string[] = [];
  for await (const c of clients.msi.federatedIdentityCredentials.list(sb.info.resourceGroup, identity.name)) existing.push(c.name!);
  const extra = Array.from({ length: 18 - existing.length }, (_, n) => `extra-${n}`);
  for (const name of extra) await clients.msi.federatedIdentityCredentials.createOrUpdate(sb.info.resourceGroup, identity.name, name, { issuer, subject: `system:serviceaccount:other:${name}`, audiences: ["api://AzureADTokenExchange"] });
  const w = findingOf((await runDoctor(sb, ["--namespace", NS])).report, "wi-credential-limit", new RegExp(`identity ${identity.name} holds 18 of 20 federated credentials: room for 2 more`));
  assert.equal(w.severity, "warn");
  assert.match(w.fix!, new RegExp(`^az identity federated-credential list --identity-name ${identity.name} --resource-group ${sb.info.resourceGroup} -o table`));
  for (const name of extra.slice(0, 2)) await clients.msi.federatedIdentityCredentials.delete(sb.info.resourceGroup, identity.name, name);
  assertStatus((await runDoctor(sb, ["--namespace", NS])).report, "wi-credential-limit", "ok");
});

test("25. a pod whose ServiceAccount was deleted: its token can no longer be refreshed; re-created, ok", async () => {
  await serviceAccount("ephemeral", identity.clientId);
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment("ephemeral", "ephemeral") });
  await podsOf("ephemeral");
  assertStatus((await runDoctor(sb, ["--namespace", NS])).report, "wi-token", "ok");
  await core.deleteNamespacedServiceAccount({ name: "ephemeral", namespace: NS });
  const f = findingOf((await runDoctor(sb, ["--namespace", NS])).report, "wi-token", /runs as ServiceAccount default\/ephemeral, which no longer exists: the kubelet cannot refresh its projected token, which expires within 3600s/);
  assert.ok(f.errors.includes("AADSTS700024"));
  const fix = f.fix!.replace(/\s+#.*$/, "").replace("<identity client id>", identity.clientId);
  for (const part of fix.split(" && ")) await kubectl(part.replace(/^kubectl /, ""));
  assertStatus((await runDoctor(sb, ["--namespace", NS])).report, "wi-token", "ok");
});
