import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Errors, renderFieldError } from "../../src/sandbox/kube/errors.js";
import { dns1035Label, dns1123Label, dns1123Subdomain } from "../../src/sandbox/kube/validation.js";
import { parsePath, requestAttributes } from "../../src/sandbox/kube/paths.js";
import { humanDuration, jsonPath } from "../../src/sandbox/kube/table.js";

describe("name validation", () => {
  it("accepts and refuses as kube does", () => {
    assert.deepEqual(dns1123Subdomain("a.b-c"), []);
    assert.equal(dns1123Subdomain("A").length, 1);
    assert.deepEqual(dns1123Subdomain("x".repeat(254)), ["must be no more than 253 characters"]);
    assert.deepEqual(dns1123Label("abc-1"), []);
    assert.equal(dns1123Label("a.b").length, 1);
    assert.equal(dns1035Label("1abc").length, 1);
  });
  it("prints field errors like field.Error", () => {
    assert.equal(renderFieldError({ type: "FieldValueRequired", field: "spec.containers" }), "spec.containers: Required value");
    assert.equal(renderFieldError({ type: "FieldValueInvalid", field: "metadata.name", value: "X", detail: "bad" }), 'metadata.name: Invalid value: "X": bad');
  });
  it("joins several causes in brackets", () => {
    const err = Errors.invalid({ group: "apps", kind: "Deployment" }, "d", [
      { type: "FieldValueRequired", field: "spec.selector" },
      { type: "FieldValueRequired", field: "spec.template.spec.containers" },
    ]);
    assert.equal(err.status.message, 'Deployment.apps "d" is invalid: [spec.selector: Required value, spec.template.spec.containers: Required value]');
  });
});

describe("request paths", () => {
  it("parses resource paths, namespaces, subresources and the watch prefix", () => {
    assert.deepEqual(parsePath("/api/v1/namespaces/ns/pods/p/status").path, { kind: "resource", group: "", version: "v1", namespace: "ns", plural: "pods", name: "p", subresource: "status" });
    assert.deepEqual(parsePath("/api/v1/namespaces/ns").path, { kind: "resource", group: "", version: "v1", namespace: undefined, plural: "namespaces", name: "ns", subresource: undefined });
    assert.deepEqual(parsePath("/api/v1/namespaces/ns/status").path, { kind: "resource", group: "", version: "v1", namespace: undefined, plural: "namespaces", name: "ns", subresource: "status" });
    const watch = parsePath("/apis/apps/v1/watch/namespaces/ns/deployments");
    assert.equal(watch.watchPrefix, true);
    assert.equal(requestAttributes("GET", "/apis/apps/v1/watch/namespaces/ns/deployments", new URLSearchParams(), watch).verb, "watch");
    assert.equal(requestAttributes("GET", "/api/v1/pods", new URLSearchParams("watch=1"), parsePath("/api/v1/pods")).verb, "watch");
    assert.equal(requestAttributes("DELETE", "/api/v1/namespaces/n/pods", new URLSearchParams(), parsePath("/api/v1/namespaces/n/pods")).verb, "deletecollection");
    assert.deepEqual(parsePath("/apis/apps").path, { kind: "group", group: "apps" });
    assert.equal(parsePath("/version").path.kind, "nonResource");
  });
});

describe("table printing", () => {
  it("evaluates printer-column JSONPath and prints ages as kubectl does", () => {
    const o = { status: { conditions: [{ type: "A", status: "False" }, { type: "Ready", status: "True" }] }, spec: { list: [1, 2] } };
    assert.equal(jsonPath(o, '.status.conditions[?(@.type=="Ready")].status'), "True");
    assert.equal(jsonPath(o, ".spec.list[1]"), 2);
    assert.equal(humanDuration(59_000), "59s");
    assert.equal(humanDuration(5 * 60_000 + 3000), "5m3s");
    assert.equal(humanDuration(3 * 3600_000), "3h");
    assert.equal(humanDuration(3 * 86400_000), "3d");
  });
});
