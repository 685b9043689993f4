import { test } from "node:test";
import assert from "node:assert/strict";
import { isNamespacedIdentity, bindingReaches, identityReaches } from "../../src/aadpodidentity/matching.js";
import { bindingSpec, exceptionPodLabels, fieldSpelling, identitySpec, SPEC_FIELDS } from "../../src/aadpodidentity/spec.js";
import { BEHAVIOR_ANNOTATION, type AzureIdentity, type AzureIdentityBinding, type AzurePodIdentityException } from "../../src/aadpodidentity/types.js";
import { ScaleSetTrouble } from "../../src/aadpodidentity/contract/mic-reports.js";
import { declaredNamespacedMode, namespacedMode } from "../../src/aadpodidentity/contract/namespaced-mode.js";
import { demoResultLine, demoResults } from "../../src/aadpodidentity/contract/demo-result.js";
import { latestMicWarnings, troubleOf } from "../../src/core/doctor/checks/mic-events.js";
import type { KubeEvent } from "../../src/core/doctor/checks/runtime-pods.js";

const identity = (namespace: string, spec: Record<string, unknown>, annotations?: Record<string, string>) =>
  ({ apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: "id", namespace, annotations }, spec }) as unknown as AzureIdentity;
const binding = (namespace: string, spec: Record<string, unknown>) => ({ apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name: "b", namespace }, spec }) as unknown as AzureIdentityBinding;

test("every spec field is read in either spelling, the v1 one first; the old names are one table", () => {
  assert.deepEqual(identitySpec(identity("a", { Type: 1, ResourceID: " /r ", ClientID: "c", TenantID: "t", ClientPassword: { name: "s", namespace: "a" }, ADEndpoint: "https://login" })), {
    type: 1,
    resourceID: "/r",
    clientID: "c",
    clientPassword: { name: "s", namespace: "a" },
    tenantID: "t",
    adEndpoint: "https://login",
    adResourceID: "",
  });
  assert.equal(identitySpec(identity("a", { clientID: "new", ClientID: "old" })).clientID, "new");
  assert.equal(identitySpec(identity("a", {})).type, 0, "no type: a user-assigned identity");
  assert.equal(identitySpec(identity("a", { type: "0" })).type as unknown, "0", "a type of the wrong kind is kept for the validity check to name");
  assert.deepEqual(bindingSpec(binding("a", { AzureIdentity: "id", Selector: "web", Weight: 2 })), { azureIdentity: "id", selector: "web", weight: 2 });
  assert.deepEqual(exceptionPodLabels({ spec: { PodLabels: { app: "x", n: 1 } } } as unknown as AzurePodIdentityException), { app: "x", n: "1" });
  assert.deepEqual(Object.keys(SPEC_FIELDS).sort(), ["AzureIdentity", "AzureIdentityBinding", "AzurePodIdentityException"]);
});

test("which spelling is read: Go's decode over sorted keys, case ignored, the last one not null wins", () => {
  assert.deepEqual(fieldSpelling({ ClientID: "old", clientID: "" }, "clientID"), { v1: "clientID", keys: ["ClientID", "clientID"], read: "clientID" }, "an empty v1 value is a value");
  assert.equal(identitySpec(identity("a", { ClientID: "old", clientID: "" })).clientID, "");
  assert.equal(fieldSpelling({ ClientID: "old", clientID: null }, "clientID").read, "ClientID", "null leaves the field as it was");
  assert.equal(fieldSpelling({ clientID: "v1", clientid: "lower" }, "clientID").read, "clientid", "any case names the field; sorted, clientid comes last");
  assert.deepEqual(fieldSpelling({ resourceID: "r" }, "clientID"), { v1: "clientID", keys: [] });
});

test("the Behavior annotation: only exactly `namespaced` is namespaced (upstream's IsNamespacedIdentity)", () => {
  const annotated = (value: string) => identity("owner", { type: 0 }, { [BEHAVIOR_ANNOTATION]: value });
  assert.equal(isNamespacedIdentity(annotated("namespaced")), true);
  for (const value of ["Namespaced", "NAMESPACED", " namespaced", "namespaced ", "true", ""]) assert.equal(isNamespacedIdentity(annotated(value)), false, JSON.stringify(value));
  assert.equal(isNamespacedIdentity(identity("owner", {})), false);
  // NMI's side (no binding) and MIC's (a binding) of one rule.
  assert.equal(identityReaches(annotated("namespaced"), "other", false), false);
  assert.equal(identityReaches(annotated("Namespaced"), "other", false), true);
  assert.equal(identityReaches(annotated("Namespaced"), "other", true), false, "--forceNamespaced");
  assert.equal(bindingReaches(binding("owner", {}), annotated("namespaced"), "owner", false), true);
  assert.equal(bindingReaches(binding("elsewhere", {}), annotated("namespaced"), "owner", false), false, "namespaced: the binding shares the pod's namespace too");
});

test("namespaced mode: the flag (Go's booleans) or FORCENAMESPACED exactly true, read alike from parsed flags and from a Deployment's container", () => {
  assert.equal(namespacedMode(false, "true"), true);
  assert.equal(namespacedMode(false, "True"), false, "upstream compares the variable with \"true\" exactly");
  assert.equal(namespacedMode(true, "false"), true, "either switches it on");
  const on = (args: string[], env: { name: string; value?: string; valueFrom?: object }[] = [], envFrom?: object[]) => declaredNamespacedMode({ args, env, envFrom });
  for (const args of [["--forceNamespaced"], ["--forceNamespaced=true"], ["--forceNamespaced=1"], ["--forceNamespaced=t"], ["-forceNamespaced"], ["--forceNamespaced=false", "--forceNamespaced=T"]]) {
    assert.deepEqual(on(args), { on: true }, args.join(" "));
  }
  for (const args of [[], ["--forceNamespaced=false"], ["--forceNamespaced=0"], ["--forceNamespaced=yes"], ["--forceNamespaced=true", "--forceNamespaced=f"]]) assert.deepEqual(on(args), { on: false }, args.join(" "));
  assert.deepEqual(on([], [{ name: "FORCENAMESPACED", value: "true" }]), { on: true });
  assert.deepEqual(on([], [{ name: "FORCENAMESPACED", value: "1" }]), { on: false });
  assert.deepEqual(on([], [{ name: "FORCENAMESPACED", value: "false" }, { name: "FORCENAMESPACED", value: "true" }]), { on: true }, "the last entry of a name wins, as the kubelet builds env");
  const fromConfigMap = on([], [{ name: "FORCENAMESPACED", valueFrom: { configMapKeyRef: { name: "mic", key: "ns" } } }]);
  assert.equal(fromConfigMap.on, false);
  assert.match(fromConfigMap.unresolved ?? "", /FORCENAMESPACED is set from configMapKeyRef/);
  assert.match(on([], [], [{ configMapRef: { name: "mic" } }]).unresolved ?? "", /envFrom may set FORCENAMESPACED/);
  assert.deepEqual(on(["--forceNamespaced"], [{ name: "FORCENAMESPACED", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }]), { on: true }, "the flag decides alone");
});

test("doctor reads MIC's trouble from its Events' reasons, and upstream MIC's from the ARM code in its message", () => {
  const event = (reason: string, message = "", type = "Warning", at = "2025-01-01T00:00:00Z", name = "a"): KubeEvent => ({ type, reason, message, lastTimestamp: at, involvedObject: { kind: "AzureAssignedIdentity", name, namespace: "default" } });
  assert.equal(troubleOf(event(ScaleSetTrouble.IdentityLimit, "whatever the words")), ScaleSetTrouble.IdentityLimit);
  assert.equal(troubleOf(event(ScaleSetTrouble.Throttled, "")), ScaleSetTrouble.Throttled);
  assert.equal(troubleOf(event("binding apply error", "... LinkedAuthorizationFailed: The client ...")), ScaleSetTrouble.LinkedAuthorization);
  assert.equal(troubleOf(event("binding apply error", "FailedIdentityOperation: ... exceed limit '150' in one request")), ScaleSetTrouble.IdentityLimit);
  assert.equal(troubleOf(event("binding apply error", "status 429 TooManyRequests")), ScaleSetTrouble.Throttled);
  assert.equal(troubleOf(event(ScaleSetTrouble.Throttled, "", "Normal")), undefined, "only Warning Events report trouble");
  assert.equal(troubleOf(event("BackOff", "Back-off restarting failed container")), undefined);
  const aai = (name: string) => ({ metadata: { name, namespace: "default" } }) as never;
  const latest = latestMicWarnings([event(ScaleSetTrouble.Throttled, "", "Warning", "2025-01-01T00:00:00Z"), event(ScaleSetTrouble.Authorization, "", "Warning", "2025-01-01T00:01:00Z"), event(ScaleSetTrouble.Failed, "", "Warning", "2025-01-01T00:02:00Z", "b")], [aai("a")]);
  assert.deepEqual([...latest].map(([k, e]) => [k, e.reason]), [["default/a", ScaleSetTrouble.Authorization]]);
});

test("the demo workload's result line round-trips, whatever precedes it on the line", () => {
  const result = { path: "managed identity" as const, token: true, clientId: "c", arm: true, vmCount: 2, scaleSetCount: 1 };
  assert.deepEqual(demoResults(`2025-01-01T00:00:00Z ${demoResultLine(result)}\nnoise\n${demoResultLine({ ...result, arm: false })}`), [result, { ...result, arm: false }]);
  assert.deepEqual(demoResults(`${demoResultLine(result).slice(0, 30)}\n`), [], "a line cut short is no result");
});
