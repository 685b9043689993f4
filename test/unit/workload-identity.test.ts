import { test } from "node:test";
import assert from "node:assert/strict";
import { createDefaultHttpClient } from "@azure/core-rest-pipeline";
import { tokenNeedsRefresh } from "../../src/sandbox/kubelet/projected-tokens.js";
import { isMetadataProxyInit } from "../../src/sandbox/kubelet/images.js";
import { demoCredential } from "../../src/runtime/demo/main.js";
import { proxyEnvironment, scopeOf } from "../../src/runtime/proxy/proxy.js";
import { clockAdvanceRefusal, MAX_CLOCK_OFFSET_SECONDS, SandboxClock } from "../../src/sandbox/clock.js";

test("projected tokens: refreshed from 80% of their life, and after a day whatever their lifetime", () => {
  const hour = 3600_000;
  assert.equal(tokenNeedsRefresh(0, hour, 0.79 * hour), false);
  assert.equal(tokenNeedsRefresh(0, hour, 0.8 * hour), true);
  assert.equal(tokenNeedsRefresh(0, 48 * hour, 24 * hour), true, "older than 24 h");
  assert.equal(tokenNeedsRefresh(0, 48 * hour, 23 * hour), false);
});

test("the kubelet applies upstream's proxy-init itself, from any registry; nothing else by that name", () => {
  assert.ok(isMetadataProxyInit("mcr.microsoft.com/oss/azure/workload-identity/proxy-init:v1.5.1"));
  assert.ok(isMetadataProxyInit("myacr.azurecr.io/oss/v2/azure/workload-identity/proxy-init@sha256:abc"));
  assert.ok(!isMetadataProxyInit("example.com/proxy-init:1"));
  assert.ok(!isMetadataProxyInit("mcr.microsoft.com/oss/azure/workload-identity/proxy:v1.5.1"));
});

test("the demo picks workload identity when the webhook's three variables are there (as DefaultAzureCredential), else managed identity", () => {
  const http = createDefaultHttpClient();
  const wi = { AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/azure/tokens/azure-identity-token", AZURE_CLIENT_ID: "c", AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47", AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/" };
  const picked = demoCredential(wi, undefined, http);
  assert.equal(picked.path, "workload identity");
  assert.equal(picked.describe, "using workload identity, tokenFile(/var/run/secrets/azure/tokens/azure-identity-token)");
  assert.equal(demoCredential({ ...wi, AZURE_TENANT_ID: undefined }, undefined, http).path, "managed identity");
  assert.equal(demoCredential({ AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://10.0.0.1:2579" }, "c", http).describe, "using the MSI, msiEndpoint(http://10.0.0.1:2579/metadata/identity/oauth2/token)");
});

test("the proxy: a v1 resource becomes a .default scope as upstream's; it cannot start without a tenant and authority", () => {
  assert.equal(scopeOf("https://management.azure.com/"), "https://management.azure.com//.default");
  assert.equal(scopeOf("https://vault.azure.net"), "https://vault.azure.net/.default");
  assert.equal(scopeOf("https://vault.azure.net/.default"), "https://vault.azure.net/.default");
  assert.deepEqual(proxyEnvironment({ AZURE_AUTHORITY_HOST: "x" }), { missing: "AZURE_TENANT_ID" });
  assert.deepEqual(proxyEnvironment({ AZURE_TENANT_ID: "t" }), { missing: "AZURE_AUTHORITY_HOST" });
  const env = proxyEnvironment({ AZURE_TENANT_ID: "t", AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/", AZURE_FEDERATED_TOKEN_FILE: "/f", AZURE_CLIENT_ID: "c" });
  assert.deepEqual(env, { tenantId: "t", authorityHost: "https://login.microsoftonline.com/", tokenFile: "/f", defaultClientId: "c", metadataUrl: "http://169.254.169.254" });
});

test("the sandbox clock runs at most 10 years ahead: an advance past that is refused, a stored offset past it is taken as the limit", () => {
  const clock = new SandboxClock();
  clock.advance(MAX_CLOCK_OFFSET_SECONDS - 60);
  assert.throws(() => clock.advance(61), /runs at most 315360000 seconds \(10 years\) ahead of real time and is 315359940 ahead: advance it by at most 60$/);
  assert.equal(clock.offsetSeconds, MAX_CLOCK_OFFSET_SECONDS - 60, "nothing moved");
  clock.advance(60);
  assert.ok(Number.isFinite(new Date(clock.now()).getTime()));
  assert.throws(() => clock.advance(Number.NaN), /only moves forward/);
  assert.equal(new SandboxClock(1e300).offsetSeconds, MAX_CLOCK_OFFSET_SECONDS);
  assert.equal(clockAdvanceRefusal(0, MAX_CLOCK_OFFSET_SECONDS), undefined);
});
