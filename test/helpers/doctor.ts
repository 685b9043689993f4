import assert from "node:assert/strict";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { runPodid, type RunResult } from "./cli.js";
import type { SandboxFixture } from "./sandbox-env.js";
import type { CheckResult, DoctorReport, Finding } from "../../src/core/doctor/model.js";

/** `podid doctor -o json` as a user runs it, with the report parsed. */
export async function runDoctor(sb: SandboxFixture, args: string[] = ["-A"], env: NodeJS.ProcessEnv = {}): Promise<RunResult & { report: DoctorReport }> {
  const r = await runPodid(["doctor", ...args, "-o", "json"], { env: { ...sb.env, ...env } });
  let report: DoctorReport;
  try {
    report = JSON.parse(r.stdout) as DoctorReport;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { ...r, report };
}

export function checkOf(report: DoctorReport, id: string): CheckResult {
  const c = report.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in ${report.checks.map((x) => x.id).join(", ")}`);
  return c;
}

/** The one finding of a check whose message matches. */
export function findingOf(report: DoctorReport, id: string, message: RegExp): Finding {
  const c = checkOf(report, id);
  const f = c.findings.find((x) => message.test(x.message));
  assert.ok(f, `check ${id} (${c.status}${c.reason ? `: ${c.reason}` : ""}) has no finding matching ${message}: ${JSON.stringify(c.findings, null, 2)}`);
  return f;
}

export function assertStatus(report: DoctorReport, id: string, status: CheckResult["status"]): void {
  const c = checkOf(report, id);
  assert.equal(c.status, status, `check ${id}: ${JSON.stringify(c, null, 2)}`);
}

/** Splits a fix line into argv, dropping a trailing `# comment`; only for the plain podid commands doctor prints. */
export function fixArgs(fix: string | undefined): string[] {
  assert.ok(fix, "the finding has a fix");
  const command = fix.replace(/\s+#.*$/, "").trim();
  assert.match(command, /^podid /, `fix is a podid command: ${fix}`);
  return command.split(/\s+/).slice(1).map((w) => w.replace(/^'(.*)'$/, "$1"));
}

/** Runs the podid command a finding suggests, as the user would paste it (plus any extra arguments). */
export async function applyFix(sb: SandboxFixture, fix: string | undefined, ...extra: string[]): Promise<RunResult> {
  const r = await runPodid([...fixArgs(fix), ...extra], { env: sb.env });
  assert.equal(r.code, 0, `fix '${fix}' failed: ${r.stderr}`);
  return r;
}

/** A pod scheduled on a sandbox node (no kubelet needed: MIC matches by spec.nodeName). */
export async function createPod(kc: KubeConfig, sb: SandboxFixture, input: { name: string; namespace?: string; labels?: Record<string, string> }): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedPod({
    namespace: input.namespace ?? "default",
    body: { metadata: { name: input.name, labels: input.labels }, spec: { nodeName: sb.info.nodes[0].name, containers: [{ name: "app", image: "example/app:1" }] } },
  });
}

export async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
}
