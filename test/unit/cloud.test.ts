import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { resolveCloud } from "../../src/azure/cloud.js";
import { sandboxCloudProfile } from "../../src/sandbox/cloud-profile.js";
import { UsageError } from "../../src/errors/index.js";

test("built-in clouds resolve by name, case-insensitively, and are known authorities", () => {
  const cloud = resolveCloud("azurechinacloud", {});
  assert.equal(cloud.resourceManager, "https://management.chinacloudapi.cn");
  assert.equal(cloud.authorityHost, "https://login.chinacloudapi.cn");
  assert.equal(cloud.armScope, "https://management.core.chinacloudapi.cn/.default");
  assert.equal(cloud.knownAuthority, true);
  assert.equal(resolveCloud(undefined, {}).name, "AzureCloud");
});

test("a cloud profile file in `az cloud show` shape is read from --cloud or PODID_CLOUD", () => {
  const dir = mkdtempSync(join(tmpdir(), "podid-cloud-"));
  const file = join(dir, "cloud.json");
  writeFileSync(file, JSON.stringify(sandboxCloudProfile({ activeDirectory: "https://127.0.0.1:1001/", resourceManager: "https://127.0.0.1:1002" })));
  const cloud = resolveCloud(undefined, { PODID_CLOUD: file });
  assert.equal(cloud.name, "PodidSandbox");
  assert.equal(cloud.resourceManager, "https://127.0.0.1:1002");
  assert.equal(cloud.authorityHost, "https://127.0.0.1:1001");
  assert.equal(cloud.armScope, "https://127.0.0.1:1002/.default");
  assert.equal(cloud.knownAuthority, false);
});

test("an unknown cloud name or a broken profile is a usage error", () => {
  assert.throws(() => resolveCloud("NoSuchCloud", {}), UsageError);
  const dir = mkdtempSync(join(tmpdir(), "podid-cloud-"));
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{not json");
  assert.throws(() => resolveCloud(bad, {}), /not valid JSON/);
  writeFileSync(bad, JSON.stringify({ name: "x", endpoints: { resourceManager: "ftp://x" } }));
  assert.throws(() => resolveCloud(bad, {}), /endpoints\.resourceManager/);
});
