import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { runPodid } from "../helpers/cli.js";
import { startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { runDoctor } from "../helpers/doctor.js";

// The healthy installation the demo walkthrough leaves behind (install, identity add, bind, a labelled pod that
// got its token, an unlabelled one) is all ok, and doctor exits 0.
let sb: SandboxFixture;

before(async () => {
  sb = await startSandbox();
});

after(async () => sb?.stop());

test("after `podid demo --keep`, every check is ok", async () => {
  const demo = await runPodid(["demo", "--dir", sb.dir, "--keep", "-o", "none"], { env: sb.env, timeoutMs: 300_000 });
  assert.equal(demo.code, 0, demo.stderr);
  const r = await runDoctor(sb, ["-A"]);
  assert.equal(r.code, 0, JSON.stringify(r.report.checks.filter((c) => c.status !== "ok"), null, 2));
  for (const c of r.report.checks) assert.ok(c.status === "ok" || c.id === "probe", `${c.id}: ${c.status} ${c.reason ?? ""}`);
  const bindings = r.report.checks.find((c) => c.id === "bindings")!;
  assert.deepEqual((bindings.observed["default/podid-demo-binding"] as { pods: string[] }).pods, ["default/podid-demo"]);
});
