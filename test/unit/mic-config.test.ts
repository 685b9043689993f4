import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ClientSecretCredential, ManagedIdentityCredential } from "@azure/identity";
import { flagBool, flagDuration, flagList } from "../../src/cli/flags.js";
import { clusterAzureFromConfig, readAzureJson } from "../../src/azure/cloud-config-file.js";
import { PodidError } from "../../src/errors/index.js";
import { MicMetrics } from "../../src/runtime/mic/metrics.js";
import { ScaleSetTrouble } from "../../src/aadpodidentity/contract/mic-reports.js";
import { computeTargetOfProviderId } from "../../src/azure/provider-id.js";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { refusedIdentityIds, retryAfterMs } from "../../src/azure/errors.js";

const SUB = "11111111-1111-1111-1111-111111111111";

describe("MIC configuration", () => {
  it("reads Go durations as upstream's flags take them", () => {
    assert.equal(flagDuration("x", "3600s"), 3_600_000);
    assert.equal(flagDuration("x", "3m"), 180_000);
    assert.equal(flagDuration("x", "1h30m"), 5_400_000);
    assert.equal(flagDuration("x", "500ms"), 500);
    assert.equal(flagDuration("x", "1.5s"), 1500);
    assert.equal(flagDuration("x", "15"), 15_000);
    assert.throws(() => flagDuration("syncRetryDuration", "soon"), (e: unknown) => e instanceof PodidError && /--syncRetryDuration must be a duration/.test(e.message));
    assert.equal(flagBool("forceNamespaced", "true", false), true);
    assert.equal(flagBool("forceNamespaced", undefined, true), true);
    assert.deepEqual(flagList(" a, ,B "), ["a", "B"]);
  });

  it("azure.json: managed identity (the kubelet identity is returned to be kept immutable) or a service principal", () => {
    const msi = clusterAzureFromConfig({ cloud: "AzurePublicCloud", subscriptionId: SUB, useManagedIdentityExtension: true, userAssignedIdentityID: "kubelet-client", aadClientId: "msi", aadClientSecret: "msi" }, {});
    assert.equal(msi.session.cloud.name, "AzureCloud");
    assert.equal(msi.session.subscriptionId, SUB);
    assert.equal(msi.clusterIdentityClientId, "kubelet-client");
    assert.ok(msi.session.credential instanceof ManagedIdentityCredential);

    const sp = clusterAzureFromConfig({ cloud: "AzureChinaCloud", subscriptionId: SUB, tenantId: "t", aadClientId: "c", aadClientSecret: "s" }, {});
    assert.equal(sp.session.cloud.name, "AzureChinaCloud");
    assert.equal(sp.clusterIdentityClientId, undefined);
    assert.ok(sp.session.credential instanceof ClientSecretCredential);

    assert.throws(() => clusterAzureFromConfig({ cloud: "AzurePublicCloud" }, {}), /no subscriptionId/);
    assert.throws(() => clusterAzureFromConfig({ subscriptionId: SUB }, {}), /neither useManagedIdentityExtension nor a service principal/);
    assert.throws(() => readAzureJson("/azure.json", () => "{not json"), /not valid JSON/);
    assert.deepEqual(readAzureJson("/azure.json", () => JSON.stringify({ vmType: "vmss" })), { vmType: "vmss" });
  });

  it("node providerIDs name a scale set or a VM; ids compare lower-cased", () => {
    const vmss = computeTargetOfProviderId(`azure:///subscriptions/${SUB}/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3`);
    assert.deepEqual(vmss, { kind: "scaleSet", subscriptionId: SUB, resourceGroup: "MC_rg", name: "pool", id: `/subscriptions/${SUB}/resourcegroups/mc_rg/providers/microsoft.compute/virtualmachinescalesets/pool` });
    assert.equal(computeTargetOfProviderId(`azure:///subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`)?.kind, "vm");
    assert.equal(computeTargetOfProviderId("kind://docker/x/y"), undefined);
    assert.equal(computeTargetOfProviderId(undefined), undefined);
  });

  it("renders Prometheus text with HELP and TYPE once per family", async () => {
    const m = new MicMetrics();
    m.cloudWrites.inc({ kind: "scaleSet", result: "success" });
    m.cloudWrites.inc({ kind: "scaleSet", result: "failure" });
    m.cycleDuration.observe(0.5);
    m.cloudErrors.inc({ operation_type: "vmss_update", reason: ScaleSetTrouble.Throttled });
    const text = await m.registry.metrics();
    assert.equal(text.match(/# TYPE aadpodidentity_cloud_provider_write_count counter/g)?.length, 1);
    assert.match(text, /^aadpodidentity_cloud_provider_write_count\{kind="scaleSet",result="failure"\} 1$/m);
    assert.match(text, /^# TYPE aadpodidentity_mic_cycle_duration_seconds summary$/m);
    assert.match(text, /^aadpodidentity_mic_cycle_duration_seconds_sum 0.5$/m);
    assert.match(text, /^aadpodidentity_mic_cycle_duration_seconds_count 1$/m);
    assert.match(text, /^aadpodidentity_cloud_provider_operations_errors_count\{operation_type="vmss_update",reason="AzureThrottled"\} 1$/m);
    assert.match(text, /^aadpodidentity_mic_leader 0$/m);
    assert.equal(await m.total("aadpodidentity_cloud_provider_write_count"), 2);
    assert.equal(await m.total("aadpodidentity_cloud_provider_write_count", { result: "success" }), 1);
  });

  it("ARM failures: Retry-After in seconds or as a date; the identities a PATCH was refused for", () => {
    const failure = (code: string, status: number, message: string, headers: Record<string, string> = {}) =>
      new RestError(message, { code, statusCode: status, response: { status, headers: createHttpHeaders(headers), request: createPipelineRequest({ url: "https://arm" }) } });
    assert.equal(retryAfterMs(failure("TooManyRequests", 429, "x", { "retry-after": "3" })), 3000);
    const now = Date.parse("2025-01-01T12:00:00Z");
    assert.equal(retryAfterMs(failure("TooManyRequests", 429, "x", { "retry-after": new Date(now + 10_000).toUTCString() }), now), 10_000);
    assert.equal(retryAfterMs(failure("TooManyRequests", 429, "x")), undefined);
    assert.equal(retryAfterMs(new Error("plain")), undefined);

    const a = `/subscriptions/${SUB}/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a`;
    const b = `/subscriptions/${SUB}/resourcegroups/g/providers/microsoft.managedidentity/userassignedidentities/b`;
    const linked = failure("LinkedAuthorizationFailed", 403, `The client 'x' ... does not have permission to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${a},${b}' (respectively) or the linked scope(s) are invalid.`);
    assert.deepEqual(refusedIdentityIds(linked), [a.toLowerCase(), b]);
    assert.deepEqual(refusedIdentityIds(failure("FailedIdentityOperation", 400, `Resource '${a}' was not found.`)), [a.toLowerCase()]);
    assert.deepEqual(refusedIdentityIds(failure("AuthorizationFailed", 403, `scope '${a}'`)), [], "only the identity-specific refusals name identities to drop");
  });
});
