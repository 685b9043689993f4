import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { renderAzureIdentity, renderAzureIdentityBinding, renderAzurePodIdentityException } from "../../src/render/identity.js";
import { toYamlStream } from "../../src/render/templates.js";
import { formatResourceId, parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../src/azure/resource-id.js";
import { checkAzureIdentityName, checkGuid, checkKubeName, checkLabelValue, checkNamespace } from "../../src/core/validate.js";
import { UsageError } from "../../src/errors/index.js";
import { renderInstall, INSTALL_DEFAULTS } from "../../src/render/install.js";
import {
  AKS_ADDON_EXCEPTION_NAME,
  AKS_ADDON_LABEL,
  AKS_ADDON_LABEL_VALUE,
  COMPONENT_LABEL,
  INSTALL_NAMESPACE,
  MANAGED_BY_LABEL,
  MANAGED_BY_PODID,
  MIC_DEPLOYMENT_NAME,
  MIC_EXCEPTION_NAME,
  MIC_FLAG_DEFAULTS,
  MicFlag,
  NAME_LABEL,
  NAME_LABEL_VALUE,
  NMI_DAEMONSET_NAME,
  NMI_FLAG_DEFAULTS,
  NmiFlag,
} from "../../src/aadpodidentity/contract/names.js";

const rid = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app";

test("an AzureIdentity has type 0 and the canonical camelCase fields", () => {
  const identity = renderAzureIdentity({ name: "app", namespace: "team-a", resourceId: rid, clientId: "c" });
  assert.equal(identity.apiVersion, "aadpodidentity.k8s.io/v1");
  assert.deepEqual(identity.spec, { type: 0, resourceID: rid, clientID: "c" });
  assert.equal(identity.metadata.labels?.["app.kubernetes.io/managed-by"], "podid");
  assert.equal(renderAzureIdentity({ name: "a", namespace: "b", resourceId: rid, clientId: "c", namespaced: true }).metadata.annotations?.["aadpodidentity.k8s.io/Behavior"], "namespaced");
});

test("hostile values stay data: YAML round-trips them exactly and adds no keys", () => {
  const nasty = 'x: y\n"z": {a: 1} # comment\n---\nkind: Secret';
  const objects = [
    renderAzureIdentity({ name: "app", namespace: "ns", resourceId: nasty, clientId: nasty }),
    renderAzureIdentityBinding({ name: "b", namespace: "ns", identityName: nasty, selector: nasty }),
    renderAzurePodIdentityException({ name: "e", namespace: "ns", podLabels: { [nasty]: nasty } }),
  ];
  const docs = parseAllDocuments(toYamlStream(objects)).map((d) => d.toJS());
  assert.equal(docs.length, 3);
  assert.deepEqual(docs, JSON.parse(JSON.stringify(objects)));
  assert.deepEqual(Object.keys(docs[0].spec).sort(), ["clientID", "resourceID", "type"]);
});

test("rendering twice gives equal objects (templates are not mutated)", () => {
  const a = renderAzureIdentityBinding({ name: "b", namespace: "ns", identityName: "i", selector: "s" });
  const b = renderAzureIdentityBinding({ name: "b", namespace: "ns", identityName: "i", selector: "s" });
  assert.deepEqual(a, b);
  assert.deepEqual(renderAzurePodIdentityException({ name: "e", namespace: "n", podLabels: {} }).spec.podLabels, {});
});

test("resource ids parse case-insensitively and come out canonical", () => {
  const portal = "/subscriptions/0000/resourcegroups/rg/providers/microsoft.managedidentity/userassignedidentities/app/";
  assert.equal(formatResourceId(parseResourceId(portal, USER_ASSIGNED_IDENTITY_TYPE)), rid);
  assert.throws(() => parseResourceId("subscriptions/0000/resourceGroups/rg", USER_ASSIGNED_IDENTITY_TYPE), UsageError);
  assert.throws(() => parseResourceId("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v", USER_ASSIGNED_IDENTITY_TYPE), /not a Microsoft.ManagedIdentity/);
});

test("names, namespaces, GUIDs and selectors are checked before anything is made", () => {
  for (const bad of ["Upper", "a_b", "-a", "a-", "a:b", "a\nb", "{a}", "a#b", "x".repeat(254)]) assert.throws(() => checkKubeName("name", bad), UsageError, bad);
  assert.equal(checkKubeName("name", "my.app-1"), "my.app-1");
  assert.throws(() => checkNamespace("a.b"), UsageError);
  assert.throws(() => checkAzureIdentityName("ab"), UsageError);
  assert.throws(() => checkAzureIdentityName("a b c"), UsageError);
  assert.equal(checkAzureIdentityName("My_App-1"), "My_App-1");
  assert.throws(() => checkGuid("client id", "1234"), UsageError);
  assert.equal(checkGuid("id", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  assert.throws(() => checkLabelValue("selector", "has space"), UsageError);
  assert.throws(() => checkLabelValue("selector", ""), UsageError);
  assert.equal(checkLabelValue("selector", "demo.app_1"), "demo.app_1");
});

test("the shipped manifests carry the runtime contract's names, labels, flags and ports", () => {
  const manifests = renderInstall(INSTALL_DEFAULTS);
  const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
  type Pod = { metadata: { labels: Record<string, string> }; spec: { containers: { args: string[]; livenessProbe?: { httpGet: { port: number } } }[] } };
  const workload = (kind: string, name: string) => (find(kind, name) as unknown as { metadata: { namespace: string; labels: Record<string, string> }; spec: { template: Pod } } | undefined)!;
  for (const [kind, name, component] of [["Deployment", MIC_DEPLOYMENT_NAME, "mic"], ["DaemonSet", NMI_DAEMONSET_NAME, "nmi"]] as const) {
    const w = workload(kind, name);
    assert.ok(w, `${kind} ${name}`);
    assert.equal(w.metadata.namespace, INSTALL_NAMESPACE);
    assert.equal(w.metadata.labels[COMPONENT_LABEL], component);
    assert.equal(w.metadata.labels[MANAGED_BY_LABEL], MANAGED_BY_PODID);
    assert.equal(w.spec.template.metadata.labels[COMPONENT_LABEL], component);
    assert.equal(w.spec.template.metadata.labels[NAME_LABEL], NAME_LABEL_VALUE);
  }
  const mic = workload("Deployment", MIC_DEPLOYMENT_NAME).spec.template.spec.containers[0];
  assert.ok(mic.args.some((a) => a.startsWith(`--${MicFlag.leaderElectionNamespace}=`)));
  assert.ok(mic.args.includes(`--${MicFlag.httpProbePort}=${MIC_FLAG_DEFAULTS.httpProbePort}`));
  assert.ok(mic.args.includes(`--${MicFlag.prometheusPort}=${MIC_FLAG_DEFAULTS.prometheusPort}`));
  assert.equal(mic.livenessProbe?.httpGet.port, MIC_FLAG_DEFAULTS.httpProbePort);
  const nmi = workload("DaemonSet", NMI_DAEMONSET_NAME).spec.template.spec.containers[0];
  assert.ok(nmi.args.some((a) => a.startsWith(`--${NmiFlag.micNamespace}=`)), "NMI knows where MIC runs");
  assert.ok(nmi.args.some((a) => a.startsWith(`--${NmiFlag.hostIp}=`)));
  assert.ok(!nmi.args.some((a) => a.startsWith(`--${NmiFlag.port}=`)), `NMI serves tokens on the contract's default port, ${NMI_FLAG_DEFAULTS.port}`);
  const exceptions = Object.fromEntries(manifests.filter((m) => m.kind === "AzurePodIdentityException").map((m) => [m.metadata.name, (m.spec as { podLabels: Record<string, string> }).podLabels]));
  assert.deepEqual(exceptions, { [MIC_EXCEPTION_NAME]: { [COMPONENT_LABEL]: "mic" }, [AKS_ADDON_EXCEPTION_NAME]: { [AKS_ADDON_LABEL]: AKS_ADDON_LABEL_VALUE } });
  const upstream = renderInstall({ ...INSTALL_DEFAULTS, runtime: "upstream", allowKubenet: true });
  const upstreamNmi = (upstream.find((m) => m.kind === "DaemonSet") as unknown as { spec: { template: Pod } }).spec.template.spec.containers[0];
  assert.ok(upstreamNmi.args.includes(`--${NmiFlag.allowKubenet}=true`));
  assert.ok(!upstreamNmi.args.some((a) => a.startsWith(`--${NmiFlag.hostIp}`)), "upstream's NMI has no --host-ip");
});
