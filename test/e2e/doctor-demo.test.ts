import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { runPodid, runShell } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
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

test("doctor only reads: with read-only credentials (get/list/watch in the cluster, Reader in Azure) the report is the same", async () => {
  const admin = await runDoctor(sb, ["-A"]);
  const readOnly = `apiVersion: v1
kind: ServiceAccount
metadata: {name: auditor, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: read-everything}
rules:
  - {apiGroups: ["*"], resources: ["*"], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: auditor-reads-everything}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: read-everything}
subjects: [{kind: ServiceAccount, name: auditor, namespace: default}]
`;
  const kubeconfig = join(sb.dir, "auditor.kubeconfig");
  copyFileSync(sb.env.KUBECONFIG!, kubeconfig);
  const applied = await runShell(`kubectl apply -f - <<'EOF'\n${readOnly}EOF`, { env: sb.env });
  assert.equal(applied.code, 0, applied.stderr);
  // TokenRequest, as `kubectl create token auditor` (kubectl >= 1.24) asks for it.
  const { kc, auth } = sandboxClients(sb);
  const token = (await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: "auditor", namespace: "default", body: { spec: { audiences: [] } } })).status!.token;
  const setup = await runShell(`kubectl config set-credentials auditor --token="${token}" >/dev/null && kubectl config set-context --current --user=auditor >/dev/null`, { env: { ...sb.env, KUBECONFIG: kubeconfig } });
  assert.equal(setup.code, 0, setup.stderr);
  const denied = await runShell(`kubectl delete pod podid-demo --dry-run=server`, { env: { ...sb.env, KUBECONFIG: kubeconfig } });
  assert.notEqual(denied.code, 0, "the auditor may not write");

  const reader = JSON.parse((await runPodid(["sandbox", "principal", "add", "--dir", sb.dir, "--display-name", "auditor"])).stdout) as { clientId: string; objectId: string; secretFile: string };
  const subscription = `/subscriptions/${sb.info.subscriptionId}`;
  const role = (await auth.roleDefinitions.list(subscription, { filter: "roleName eq 'Reader'" }).next()).value;
  await auth.roleAssignments.create(subscription, randomUUID(), { roleDefinitionId: role.id, principalId: reader.objectId, principalType: "ServicePrincipal" });

  const r = await runDoctor(sb, ["-A"], { KUBECONFIG: kubeconfig, AZURE_CLIENT_ID: reader.clientId, AZURE_CLIENT_SECRET: readFileSync(reader.secretFile, "utf8") });
  assert.equal(r.code, 0, JSON.stringify(r.report.checks.filter((c) => c.status !== "ok"), null, 2));
  assert.deepEqual(
    r.report.checks.map((c) => [c.id, c.status]),
    admin.report.checks.map((c) => [c.id, c.status]),
  );
});
