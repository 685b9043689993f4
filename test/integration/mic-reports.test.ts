import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { CLOUD_PROVIDER_ERRORS_METRIC, ScaleSetTrouble } from "../../src/aadpodidentity/contract/mic-reports.js";
import { AAD_POD_IDENTITY_API_VERSION, AAD_POD_IDENTITY_GROUP, type AzureAssignedIdentity } from "../../src/aadpodidentity/types.js";
import { DoctorContext } from "../../src/core/doctor/context.js";
import { runCheck } from "../../src/core/doctor/runner.js";
import { scaleSetErrorsCheck } from "../../src/core/doctor/checks/scale-set-errors.js";
import { AssignedIdentityWriter } from "../../src/kube/assigned-identities.js";
import { KubeSession } from "../../src/kube/session.js";
import type { Mic } from "../../src/runtime/mic/mic.js";
import { failureOf } from "../../src/runtime/mic/apply.js";
import { MicMetrics } from "../../src/runtime/mic/metrics.js";
import { MicReporter } from "../../src/runtime/mic/report.js";
import { createLogger } from "../../src/util/logger.js";
import { kubeNodesOf, productSession, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { eventually } from "../helpers/eventually.js";
import { NmiWorld } from "../helpers/nmi.js";
import { startTestMic } from "../helpers/mic.js";

// MIC reports facts, and doctor reads them: ARM's throttling and its 150-identities limit reach doctor as the reasons
// of MIC's Events on the assignments they hold back. MIC's log is of no use here: this MIC writes none at all (its
// every line is dropped), and there is no MIC pod whose log doctor could read.

let sb: AzureSandbox;
let f: KubeFixture;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let mic: Mic;
let logged = 0;
/** MIC's log, broken beyond reading: every line is counted and dropped. */
const silent = createLogger("debug", () => void logged++);

before(async () => {
  sb = await startAzureSandbox({ nodes: 1 });
  f = await startKubeFixture({ nodes: kubeNodesOf(sb.seed) });
  await applyShippedCrds(f.kc);
  core = f.kc.makeApiClient(CoreV1Api);
  custom = f.kc.makeApiClient(CustomObjectsApi);
  mic = await startTestMic(sb, f.kc, silent, { armRetryBudgetMs: 120_000, leaderElection: { namespace: "default", name: "reports-mic", durationMs: 1500 } });
  await eventually("MIC to lead", () => mic.isLeader());
});

after(async () => {
  sb?.cloud.setFaults([]);
  await mic?.stop();
  await f?.stop();
  await sb?.close();
});

/** Doctor as `podid doctor -n NS` runs it, afresh each time (its reads are memoised per run). */
function doctor(namespace: string): DoctorContext {
  return new DoctorContext({ scope: { namespace, probe: false }, openKube: () => new KubeSession(f.kc, "default"), openAzure: () => productSession(sb), cluster: {} });
}

async function assigned(name: string): Promise<AzureAssignedIdentity | undefined> {
  return (await custom.getNamespacedCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", namespace: "default", plural: "azureassignedidentities", name }).catch(() => undefined)) as AzureAssignedIdentity | undefined;
}

test("ARM throttling the scale set: MIC's AzureThrottled Event (and metric) while it retries, doctor's warning from it, ok once through", async () => {
  const ns = uniqueName("busy");
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const identity = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, uniqueName("busy"), { location: "eastus" });
  sb.cloud.setFaults([{ id: "busy", service: "arm", method: "PATCH", path: "*/virtualMachineScaleSets/*", status: 429, retryAfterSeconds: 1 }]);
  const create = (plural: string, body: object) => custom.createNamespacedCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", namespace: ns, plural, body });
  await create("azureidentities", { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name: "busy-id" }, spec: { type: 0, resourceID: identity.id, clientID: identity.clientId } });
  await create("azureidentitybindings", { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentityBinding", metadata: { name: "busy-binding" }, spec: { azureIdentity: "busy-id", selector: "busy" } });
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: "app", labels: { aadpodidbinding: "busy" } }, spec: { nodeName: sb.seed.nodes[0].name, containers: [{ name: "app", image: "app" }] } } });

  const found = await eventually("doctor to see MIC throttled", async () => {
    const result = await runCheck(scaleSetErrorsCheck, doctor(ns));
    const warning = result.findings.find((x) => /ARM is throttling the scale-set calls/.test(x.message));
    assert.ok(warning, JSON.stringify(result));
    return warning;
  });
  assert.equal(found.severity, "warn");
  assert.ok(found.errors.includes("TooManyRequests"));
  assert.ok(found.errors.some((e) => /Azure is busy \(429 TooManyRequests/.test(e)), found.errors.join(" | "));
  assert.ok(found.objects.includes(`AzureAssignedIdentity default/app-${ns}-busy-id`), found.objects.join(", "));
  const events = await core.listNamespacedEvent({ namespace: "default" });
  assert.ok(events.items.some((e) => e.involvedObject.name === `app-${ns}-busy-id` && e.reason === ScaleSetTrouble.Throttled && e.type === "Warning"), "MIC's Event says it by its reason");
  assert.ok((await mic.metrics.total(CLOUD_PROVIDER_ERRORS_METRIC, { operation_type: "vmss_update", reason: ScaleSetTrouble.Throttled })) > 0, "and its metric by its label");
  assert.ok(logged > 0, "MIC did log, into nothing doctor can read");

  sb.cloud.setFaults([]);
  await eventually("MIC to get through", async () => (await assigned(`app-${ns}-busy-id`))?.status?.status === "Assigned", { timeoutMs: 60_000 });
  assert.equal((await runCheck(scaleSetErrorsCheck, doctor(ns))).status, "ok", "past throttling does not count");
});

test("ARM's limit of 150 identities in one request: MIC's IdentityLimitExceeded Event, doctor's failure from it", async () => {
  // podid's MIC never sends more than 150 (test/unit/mic-plan.test.ts); an older MIC, or another controller, does.
  // ARM's own refusal, from a request of 151, goes through MIC's classification and reporter as MIC's would.
  await mic.stop();
  const ids = Array.from({ length: 151 }, (_, i) => `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/many-${i}`);
  const refusal = await sb.clients.compute.virtualMachineScaleSets
    .beginUpdateAndWait(sb.seed.nodeResourceGroup, sb.seed.vmssName, { identity: { type: "UserAssigned", userAssignedIdentities: Object.fromEntries(ids.map((id) => [id, {}])) } })
    .then(
      () => assert.fail("ARM took 151 identities in one request"),
      (err: unknown) => err,
    );
  const why = failureOf(refusal);
  assert.equal(why.failure, "identity-limit");

  const ns = uniqueName("many");
  const name = `app-${ns}-many-id`;
  // An assignment as MIC writes it (Created), whose identity MIC's request of 151 would have carried.
  await new NmiWorld(f.kc, sb.seed.nodes[0].name).assign({ namespace: ns, name: "app" }, { metadata: { name: "many-id", namespace: ns }, spec: { type: 0, resourceID: ids[0], clientID: "c" } }, "Created");
  const kube = new KubeSession(f.kc, "default");
  await new MicReporter(new AssignedIdentityWriter(kube), new MicMetrics(), silent).notAssigned((await assigned(name))!, why);

  const result = await runCheck(scaleSetErrorsCheck, doctor(ns));
  const limit = result.findings.find((x) => /^identity limit: ARM accepts at most 150/.test(x.message));
  assert.ok(limit, JSON.stringify(result));
  assert.equal(limit.severity, "fail");
  assert.ok(limit.errors.includes("exceed limit '150' in one request"));
  assert.ok(limit.errors.some((e) => /User Assigned Identities Number '151' Assign exceed limit '150' in one request/.test(e)), "ARM's words, as MIC's Event quotes them");
  assert.ok(limit.objects.includes(`AzureAssignedIdentity default/${name}`));
});
