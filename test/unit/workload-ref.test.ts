import { test } from "node:test";
import assert from "node:assert/strict";
import { parseWorkloadRef, parseWorkloadRefs } from "../../src/core/workload-kinds.js";
import { UsageError } from "../../src/errors/index.js";

test("--label takes the kinds as kubectl does: kind, plural, short name, KIND.GROUP, any case", () => {
  const cases: [string, string][] = [
    ["deployment/web", "deployment"],
    ["deployments/web", "deployment"],
    ["deploy/web", "deployment"],
    ["Deployment/web", "deployment"],
    ["deployments.apps/web", "deployment"],
    ["deployment.v1.apps/web", "deployment"],
    ["statefulset/web", "statefulset"],
    ["statefulsets/web", "statefulset"],
    ["sts/web", "statefulset"],
    ["StatefulSet.apps/web", "statefulset"],
    ["daemonset/web", "daemonset"],
    ["daemonsets/web", "daemonset"],
    ["ds/web", "daemonset"],
    ["job/web", "job"],
    ["jobs/web", "job"],
    ["jobs.batch/web", "job"],
    ["cronjob/web", "cronjob"],
    ["cronjobs/web", "cronjob"],
    ["cj/web", "cronjob"],
    ["cronjobs.batch/web", "cronjob"],
    ["pod/web", "pod"],
    ["pods/web", "pod"],
    ["po/web", "pod"],
    ["pods.v1/web", "pod"],
  ];
  for (const [value, kind] of cases) assert.deepEqual(parseWorkloadRef(value), { kind, name: "web" }, value);
});

test("--label refuses what is not a workload, a wrong group, or a bad name", () => {
  for (const value of ["web", "service/web", "deployment.batch/web", "jobs.apps/web", "pods.apps/web", "deploy/", "deploy/Web_1", "/web", "rs/web"]) {
    assert.throws(() => parseWorkloadRef(value), (e: unknown) => e instanceof UsageError && e.exitCode === 2, value);
  }
  assert.throws(() => parseWorkloadRef("svc/web"), (e: unknown) => e instanceof UsageError && /KIND is one of deployment \(deploy\), statefulset \(sts\), daemonset \(ds\), job, cronjob \(cj\), pod \(po\)/.test(e.remedy ?? ""));
});

test("one workload named two ways on the command line is labelled once", () => {
  assert.deepEqual(parseWorkloadRefs(["sts/db", "statefulsets.apps/db", "deploy/web", "StatefulSet/db"]), [
    { kind: "statefulset", name: "db" },
    { kind: "deployment", name: "web" },
  ]);
});
