import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ownerIndex, podOwner, rolloutState, atTemplate, type Workload } from "../../src/kube/workloads.js";
import { injectionProblem } from "../../src/kube/workload-identity.js";
import { newWorkloadRecord, recordText, workloadRecordOf, RECORD_ANNOTATION } from "../../src/core/migrate/records.js";
import { migratePatch, migrated, restorePatch, restored, templateAsPlanned, workloadRecordFor } from "../../src/core/migrate/workload-changes.js";
import type { IdentityPlan, WorkloadPlan } from "../../src/core/migrate/model.js";
import { unreadable } from "../../src/core/doctor/checks/wi-token.js";

// The workload side of a migration: owner chains, when a rollout is done per kind, what podid applies to a pod
// template and how the record lets it put back exactly what was there.

const w = (kind: Workload["kind"], spec: object, status: object, generation = 2): Workload => ({ apiVersion: "apps/v1", kind, metadata: { name: "x", namespace: "ns", generation }, spec, status }) as Workload;

describe("workloads", () => {
  it("a pod's owner chain: ReplicaSet to Deployment, Job to CronJob, by uid", () => {
    const index = ownerIndex(
      [{ metadata: { uid: "rs1", name: "web-1", ownerReferences: [{ kind: "Deployment", name: "web", uid: "d1", controller: true }] } }, { metadata: { uid: "rs2", name: "bare-rs" } }],
      [{ metadata: { uid: "j1", name: "nightly-1", ownerReferences: [{ kind: "CronJob", name: "nightly", uid: "c1", controller: true }] } }],
    );
    const pod = (kind: string, name: string, uid: string) => ({ metadata: { ownerReferences: [{ kind, name, uid, controller: true }] } });
    assert.deepEqual(podOwner(pod("ReplicaSet", "web-1", "rs1"), index), { type: "workload", kind: "Deployment", name: "web", uid: "d1" });
    assert.deepEqual(podOwner(pod("ReplicaSet", "bare-rs", "rs2"), index), { type: "other", kind: "ReplicaSet", name: "bare-rs" });
    assert.deepEqual(podOwner(pod("Job", "nightly-1", "j1"), index), { type: "workload", kind: "CronJob", name: "nightly", uid: "c1" });
    assert.deepEqual(podOwner(pod("Job", "once", "j9"), index), { type: "workload", kind: "Job", name: "once", uid: "j9" });
    assert.deepEqual(podOwner(pod("StatefulSet", "db", "s1"), index), { type: "workload", kind: "StatefulSet", name: "db", uid: "s1" });
    assert.deepEqual(podOwner({ metadata: {} }, index), { type: "bare" });
  });

  it("rollouts are done when every pod runs the current template, per kind", () => {
    assert.equal(rolloutState(w("Deployment", { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 2 })).complete, true);
    assert.equal(rolloutState(w("Deployment", { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 3 })).complete, false, "an old pod is still there");
    assert.equal(rolloutState(w("Deployment", { replicas: 2 }, { observedGeneration: 1, updatedReplicas: 2, availableReplicas: 2, replicas: 2 })).complete, false, "not observed yet");
    assert.equal(rolloutState(w("StatefulSet", { replicas: 1 }, { observedGeneration: 2, updatedReplicas: 1, readyReplicas: 1, currentRevision: "a", updateRevision: "a" })).complete, true);
    const onDelete = rolloutState(w("StatefulSet", { replicas: 1, updateStrategy: { type: "OnDelete" } }, { observedGeneration: 2, updatedReplicas: 0, readyReplicas: 1, currentRevision: "a", updateRevision: "b" }));
    assert.equal(onDelete.complete, false);
    assert.match(onDelete.summary, /OnDelete: pods are replaced only when deleted/);
    assert.equal(rolloutState(w("DaemonSet", {}, { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })).complete, true);
    assert.equal(rolloutState(w("DaemonSet", {}, { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 })).complete, false);
    assert.equal(rolloutState(w("CronJob", {}, {})).complete, true);
    assert.deepEqual(atTemplate("CronJob", { a: 1 }), { spec: { jobTemplate: { spec: { template: { a: 1 } } } } });
  });

  it("what keeps a labelled pod off workload identity, as its spec shows", () => {
    const volume = { name: "azure-identity-token", projected: { sources: [{ serviceAccountToken: { path: "azure-identity-token", audience: "api://AzureADTokenExchange" } }] } };
    const env = (clientId: string) => [{ name: "AZURE_CLIENT_ID", value: clientId }, { name: "AZURE_FEDERATED_TOKEN_FILE", value: "/var/run/secrets/azure/tokens/azure-identity-token" }];
    assert.match(injectionProblem({ spec: { containers: [{ name: "app" }] } })!, /webhook did not mutate/);
    assert.match(injectionProblem({ spec: { containers: [{ name: "app", env: env("c") }] } })!, /no projected service account token/);
    assert.match(injectionProblem({ spec: { containers: [{ name: "app", env: [env("")[1]] }], volumes: [volume] } })!, /AZURE_CLIENT_ID is not set: its ServiceAccount has no azure.workload.identity\/client-id/);
    assert.match(injectionProblem({ spec: { containers: [{ name: "app", env: env("c") }], volumes: [volume] } }, { clientId: "d" })!, /AZURE_CLIENT_ID is c, not d/);
    assert.match(injectionProblem({ spec: { containers: [{ name: "app", env: env("c") }], volumes: [volume] } }, { proxy: true })!, /no azwi-proxy sidecar/);
    assert.equal(injectionProblem({ spec: { containers: [{ name: "azwi-proxy", env: env("c") }, { name: "app", env: env("c") }], volumes: [volume] } }, { clientId: "c", proxy: true }), undefined);
  });
});

describe("what podid changes on a workload, and how it puts it back", () => {
  const identities: IdentityPlan[] = [
    { namespace: "ns", name: "id", type: 0, resourceId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id", clientId: "c", tenantId: "t", bindings: [{ namespace: "ns", name: "id-binding", selector: "web" }], credentials: { existing: 0, toCreate: 1, afterMigration: 1, limit: 20 }, blockers: [] },
  ];
  const plan = (proxy: boolean): WorkloadPlan => ({
    kind: "Deployment", namespace: "ns", name: "web", ref: "deployment/web", state: "pod-identity", identities: ["ns/id"], selector: "web", pods: 1,
    serviceAccount: { current: "default", target: "web", create: true }, serviceAccountAnnotations: { "azure.workload.identity/client-id": "c" },
    podTemplateLabels: { "azure.workload.identity/use": "true" }, podTemplateAnnotations: proxy ? { "azure.workload.identity/inject-proxy-sidecar": "true" } : {},
    proxySidecar: proxy, federatedCredentials: [], migratable: true, blockers: [], lastFailure: null,
  });
  const deployment = (labels: Record<string, string>, sa?: string, annotations?: Record<string, string>, templateAnnotations?: Record<string, string>): Workload =>
    ({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "ns", annotations }, spec: { template: { metadata: { labels, annotations: templateAnnotations }, spec: { ...(sa ? { serviceAccountName: sa } : {}), containers: [] } } } }) as Workload;
  const apply = (before: Workload, config: Record<string, any>): Workload => {
    const t = (before.spec as any).template;
    const ct = config.spec.template;
    return { ...before, metadata: { ...before.metadata, annotations: { ...before.metadata.annotations, ...config.metadata.annotations } }, spec: { template: { metadata: { labels: { ...t.metadata.labels, ...ct.metadata.labels }, annotations: { ...t.metadata.annotations, ...ct.metadata.annotations } }, spec: { ...t.spec, ...ct.spec } } } } as Workload;
  };

  it("patches in the label (aadpodidbinding untouched), the ServiceAccount and the proxy annotation, recording what was there", () => {
    const before = deployment({ app: "web", aadpodidbinding: "web" });
    const record = workloadRecordFor(before, plan(true), identities);
    assert.deepEqual(record.serviceAccount, { before: null, after: "web" });
    assert.deepEqual(record.added, { labels: ["azure.workload.identity/use"], annotations: ["azure.workload.identity/inject-proxy-sidecar"] });
    assert.deepEqual(record.bindings, [{ namespace: "ns", name: "id-binding", azureIdentity: "id", selector: "web" }]);
    const config = migratePatch(before, plan(true), record) as Record<string, any>;
    assert.deepEqual(config.spec.template.metadata.labels, { "azure.workload.identity/use": "true" });
    assert.deepEqual(config.spec.template.spec, { serviceAccountName: "web" });
    const after = apply(before, config);
    assert.equal(after.spec!.template && (after.spec as any).template.metadata.labels.aadpodidbinding, "web");
    assert.equal(templateAsPlanned(after, plan(true)), true);
    assert.equal(migrated(after, plan(true), workloadRecordFor(after, plan(true), identities)), true, "a re-run has nothing to patch");
    // A re-run keeps the first record's "before": never podid's own values taken for the user's.
    const again = workloadRecordFor(after, plan(true), identities);
    assert.equal(recordText(again), recordText(record));
    // Put back: label and annotation podid added go, the ServiceAccount field as it was (absent), the binding label stays.
    const patch = restorePatch(after, workloadRecordOf(after)!, null) as Record<string, any>;
    assert.deepEqual(patch.spec.template.metadata.labels, { "azure.workload.identity/use": null });
    assert.equal(patch.spec.template.metadata.annotations, null, "the annotations podid added were all there was: the map goes, as it was absent");
    assert.equal(patch.spec.template.spec.serviceAccountName, null);
    assert.equal(patch.metadata.annotations[RECORD_ANNOTATION], null);
  });

  it("what the user had is not podid's to remove; a finished workload gets its aadpodidbinding back", () => {
    const before = deployment({ aadpodidbinding: "web", "azure.workload.identity/use": "true" }, "mine");
    const record = workloadRecordFor(before, plan(false), identities);
    assert.deepEqual(record.added.labels, [], "the label was the user's");
    assert.equal(record.serviceAccount.before, "mine");
    const finished = deployment({ "azure.workload.identity/use": "true" }, "web");
    const rec = newWorkloadRecord({ ...record, serviceAccount: { before: "mine", after: "web" }, added: { labels: ["azure.workload.identity/use"], annotations: [] } });
    const patch = restorePatch(finished, rec, rec) as Record<string, any>;
    assert.deepEqual(patch.spec.template.metadata.labels, { "azure.workload.identity/use": null, aadpodidbinding: "web" });
    assert.equal(patch.spec.template.spec.serviceAccountName, "mine");
    assert.equal(restored(deployment({ aadpodidbinding: "web" }, "mine"), rec), true);
    assert.equal(restored(finished, rec), false);
  });
});

describe("doctor's wi-token: where a container reads its token from", () => {
  const volumes = [{ name: "azure-identity-token", projected: { sources: [{ serviceAccountToken: { path: "azure-identity-token", audience: "api://AzureADTokenExchange" } }] } }];
  const file = { name: "AZURE_FEDERATED_TOKEN_FILE", value: "/var/run/secrets/azure/tokens/azure-identity-token" };
  const mount = { name: "azure-identity-token", mountPath: "/var/run/secrets/azure/tokens" };
  it("a container that reads the file where the volume is mounted is fine; one the webhook skipped but that names the file is not", () => {
    const pod = {
      spec: {
        volumes,
        containers: [
          { name: "app", env: [file], volumeMounts: [mount] },
          { name: "skipped", env: [file] },
          { name: "elsewhere", env: [file], volumeMounts: [{ ...mount, mountPath: "/tokens" }] },
          { name: "none" },
        ],
      },
    };
    assert.deepEqual(unreadable(pod as never), [
      { container: "skipped", file: file.value },
      { container: "elsewhere", file: file.value },
    ]);
  });
});
