import { test } from "node:test";
import assert from "node:assert/strict";
import { ArmCode, AzureError, KubernetesCode, KubernetesError, UsageCode, UsageError } from "../../src/errors/index.js";
import { DoctorContext } from "../../src/core/doctor/context.js";
import { cannotRead } from "../../src/core/doctor/reads.js";
import { CheckSkipped, finding } from "../../src/core/doctor/model.js";
import { runDoctor, type Check } from "../../src/core/doctor/runner.js";
import { doctorExitCode } from "../../src/core/doctor/text.js";
import { closest } from "../../src/core/doctor/checks/matching.js";
import { CHECKS } from "../../src/core/doctor/checks/index.js";

const ctx = () =>
  new DoctorContext({
    scope: { namespace: "team-a", probe: false },
    openKube: () => {
      throw new Error("no cluster in unit tests");
    },
    openAzure: () => {
      throw new Error("no Azure in unit tests");
    },
    cluster: {},
  });

const check = (id: string, run: Check["run"]): Check => ({ id, number: 1, title: id, run });

test("statuses come from findings; skips and unexpected errors become skipped with the reason, never a crash", async () => {
  const report = await runDoctor(
    [
      check("fine", async () => ({ observed: { a: 1 }, findings: [] })),
      check("warns", async () => ({ observed: {}, findings: [finding("warn", "w")] })),
      check("fails", async () => ({ observed: {}, findings: [finding("warn", "w"), finding("fail", "f", { fix: "podid x" })] })),
      check("forbidden", async () => {
        throw new CheckSkipped("not allowed", "kubernetes: list pods (all namespaces)");
      }),
      check("crashes", async () => {
        throw new TypeError("boom");
      }),
    ],
    ctx(),
    { podidVersion: "0.0.0", now: () => new Date(0) },
  );
  assert.deepEqual(report.checks.map((c) => c.status), ["ok", "warn", "fail", "skipped", "skipped"]);
  assert.equal(report.checks[3].missingPermission, "kubernetes: list pods (all namespaces)");
  assert.match(report.checks[4].reason!, /^the check could not complete: boom/);
  assert.deepEqual(report.summary, { ok: 1, warn: 1, fail: 1, skipped: 2 });
  assert.equal(report.status, "fail");
  assert.equal(report.generatedAt, "1970-01-01T00:00:00.000Z");
  assert.deepEqual(report.scope, { namespace: "team-a", allNamespaces: false, identity: null, pod: null, probe: false });
});

test("exit codes: 0 ok (skipped counts as ok), 4 warnings only, 5 any failure", async () => {
  const code = async (checks: Check[]) => doctorExitCode(await runDoctor(checks, ctx(), { podidVersion: "0" }));
  const skip = check("s", async () => {
    throw new CheckSkipped("x");
  });
  assert.equal(await code([check("a", async () => ({ observed: {}, findings: [] })), skip]), 0);
  assert.equal(await code([check("a", async () => ({ observed: {}, findings: [finding("warn", "w")] }))]), 4);
  assert.equal(await code([check("a", async () => ({ observed: {}, findings: [finding("fail", "f")] })), check("b", async () => ({ observed: {}, findings: [finding("warn", "w")] }))]), 5);
});

test("checks run concurrently and share cached reads", async () => {
  const c = ctx();
  let loads = 0;
  let started = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const read = () =>
    c.cached("shared", async () => {
      loads++;
      return 42;
    });
  const waiter = (id: string) =>
    check(id, async () => {
      if (++started === 2) release();
      await gate; // both must have started, or this never resolves
      return { observed: { v: await read() }, findings: [] };
    });
  const report = await runDoctor([waiter("one"), waiter("two")], c, { podidVersion: "0" });
  assert.deepEqual(report.checks.map((x) => x.observed.v), [42, 42]);
  assert.equal(loads, 1);
});

test("a context without a usable kubeconfig skips cluster reads instead of throwing", async () => {
  const report = await runDoctor([check("needs-cluster", async (x) => ({ observed: { n: (await x.pods()).length }, findings: [] }))], ctx(), { podidVersion: "0" });
  assert.equal(report.checks[0].status, "skipped");
  assert.match(report.checks[0].reason!, /the kubeconfig cannot be used \(see check cluster\)/);
});

test("cannotRead names what is missing", () => {
  const forbidden = cannotRead(new KubernetesError(KubernetesCode.KubernetesForbidden, 'pods is forbidden: User "x" cannot list resource "pods"'), "list pods (all namespaces)") as CheckSkipped;
  assert.equal(forbidden.missingPermission, "kubernetes: list pods (all namespaces)");
  const arm = cannotRead(new AzureError(ArmCode.AuthorizationFailed, "refused", { details: { action: "Microsoft.Authorization/roleAssignments/read" } }), "read role assignments") as CheckSkipped;
  assert.equal(arm.missingPermission, "azure: Microsoft.Authorization/roleAssignments/read");
  assert.match((cannotRead(new KubernetesError(KubernetesCode.ClusterUnreachable, "x"), "list pods") as CheckSkipped).reason, /see check cluster/);
  assert.match((cannotRead(new KubernetesError(KubernetesCode.KubernetesRequestFailed, "x"), "list", true) as CheckSkipped).reason, /see check crds/);
  const other = new UsageError("x", undefined, UsageCode.InvalidName);
  assert.equal(cannotRead(other, "list"), other, "anything else is the check's own failure");
});

test("a mistyped selector finds its closest binding (transpositions count as one edit), a different one does not", () => {
  assert.equal(closest("wbe", ["web", "api"]), "web");
  assert.equal(closest("my-ap", ["my-app", "other"]), "my-app");
  assert.equal(closest("frontend", ["web", "api"]), undefined);
});

test("the registry: unique ids, issue order", () => {
  const ids = CHECKS.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length);
  const numbers = CHECKS.map((c) => c.number);
  assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b));
});
