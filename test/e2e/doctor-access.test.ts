import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { runPodid } from "../helpers/cli.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { startKubeFixture, type KubeFixture } from "../helpers/kube-api.js";
import type { DoctorReport } from "../../src/core/doctor/model.js";

// Partial access on the cluster side: a user whose RBAC allows reading only their own namespace, and no Azure
// at all. Every check that cannot read is skipped naming the missing permission; nothing crashes.
let kube: KubeFixture;
let saKubeconfig: string;

before(async () => {
  kube = await startKubeFixture();
  await applyShippedCrds(kube.kc);
  const api = KubernetesObjectApi.makeApiClient(kube.kc);
  const objects: KubernetesObject[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "dev", namespace: "team-a" } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "reader", namespace: "team-a" },
      rules: [
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
        { apiGroups: ["aadpodidentity.k8s.io"], resources: ["*"], verbs: ["get", "list"] },
      ],
    } as KubernetesObject,
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "dev-reader", namespace: "team-a" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
      subjects: [{ kind: "ServiceAccount", name: "dev", namespace: "team-a" }],
    } as KubernetesObject,
  ];
  for (const o of objects) await api.create(o);
  saKubeconfig = join(kube.dir, "dev-kubeconfig");
  writeFileSync(saKubeconfig, kube.kubeConfigFor("team-a", "dev").exportConfig(), { mode: 0o600 });
});

after(async () => kube?.stop());

test("a namespace-only user without Azure: unreadable checks are skipped with the missing permission, exit 0", async () => {
  const r = await runPodid(["doctor", "-o", "json"], { env: { KUBECONFIG: saKubeconfig, AZURE_SUBSCRIPTION_ID: "" } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  assert.equal(report.scope.namespace, "team-a", "the context's namespace by default");
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]));
  assert.equal(byId.cluster.status, "ok");
  assert.equal(byId.crds.status, "skipped");
  assert.equal(byId.crds.missingPermission, "kubernetes: get customresourcedefinitions.apiextensions.k8s.io");
  assert.equal(byId.bindings.status, "skipped");
  assert.match(byId.bindings.missingPermission!, /^kubernetes: list (pods|azureidentities\.aadpodidentity\.k8s\.io|azureidentitybindings\.aadpodidentity\.k8s\.io|deployments\.apps|nodes) \(all namespaces\)$/);
  assert.match(byId.bindings.reason!, /forbidden/);
  assert.equal(byId["kubelet-roles"].status, "skipped");
  assert.match(byId["kubelet-roles"].reason!, /no Azure subscription given/);
  assert.equal(byId["field-casing"].status, "ok", "what is readable in the namespace is still checked");
  assert.equal(byId["azure-identities"].status, "ok", "no AzureIdentity in team-a: nothing to look up in Azure");
});
