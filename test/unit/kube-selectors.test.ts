import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { matchesFields, matchesLabelSelector, matchesRequirements, parseFieldSelector, parseLabelSelector } from "../../src/sandbox/kube/selectors.js";
import { KubeError } from "../../src/sandbox/kube/errors.js";
import { pods } from "../../src/sandbox/kube/kinds/pod.js";
import { configMaps } from "../../src/sandbox/kube/kinds/plain.js";

const POD_FIELDS = pods.strategy.selectableFields;

const labels = { app: "web", tier: "front", "example.com/team": "a" };

describe("label selectors", () => {
  const cases: [string, boolean][] = [
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app!=web", false],
    ["missing!=x", true],
    ["tier in (front, back)", true],
    ["tier notin (front)", false],
    ["missing notin (front)", true],
    ["example.com/team", true],
    ["!example.com/team", false],
    ["!missing", true],
    ["app=web,tier in (back)", false],
    ["app in (web,db),!missing", true],
  ];
  for (const [selector, expected] of cases) {
    it(`${JSON.stringify(selector)} -> ${expected}`, () => assert.equal(matchesRequirements(parseLabelSelector(selector), labels), expected));
  }

  it("refuses malformed selectors with 400", () => {
    assert.throws(() => parseLabelSelector("app=web,=x"), (err) => err instanceof KubeError && err.code === 400);
    assert.throws(() => parseLabelSelector("bad key!=x y"), (err) => err instanceof KubeError && err.code === 400);
  });

  it("matches structured selectors (matchLabels and matchExpressions)", () => {
    assert.ok(matchesLabelSelector({ matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "In", values: ["front"] }] }, labels));
    assert.ok(!matchesLabelSelector({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, labels));
    assert.ok(matchesLabelSelector({}, labels), "an empty selector matches everything");
  });
});

describe("field selectors", () => {
  const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "ns" }, spec: { nodeName: "n1" }, status: { phase: "Running", podIP: "10.0.0.9" } };
  it("matches the supported fields with = == !=", () => {
    assert.ok(matchesFields(parseFieldSelector("metadata.name=p,metadata.namespace==ns", POD_FIELDS, false), pod));
    assert.ok(matchesFields(parseFieldSelector("spec.nodeName=n1,status.phase!=Pending,status.podIP=10.0.0.9", POD_FIELDS, false), pod));
    assert.ok(!matchesFields(parseFieldSelector("spec.nodeName=n2", POD_FIELDS, false), pod));
  });
  it("refuses unsupported fields with kube's wording", () => {
    assert.throws(() => parseFieldSelector("spec.nodeName=x", configMaps.strategy.selectableFields, false), (err) => err instanceof KubeError && err.status.message === "field label not supported: spec.nodeName");
    assert.throws(
      () => parseFieldSelector("spec.size=1", [], true),
      (err) => err instanceof KubeError && err.status.message === '"spec.size" is not a known field selector: only "metadata.name", "metadata.namespace"',
    );
  });
});
