import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ownerIndex, podOwner, rolloutState, atTemplate, type Workload } from "../../src/kube/workloads.js";
import { injectionProblem } from "../../src/kube/workload-identity.js";
import { newServiceAccountRecord, newWorkloadRecord, recordText, workloadRecordOf, RECORD_ANNOTATION } from "../../src/core/migrate/records.js";
import { bindingBackPatch, leftMidApply, migratePatch, migrated, restorePatch, restored, templateAsPlanned, workloadRecordFor } from "../../src/core/migrate/workload-changes.js";
import { podIdentityUsers } from "../../src/core/migrate/pod-identity-use.js";
import { recheckIdentities } from "../../src/core/migrate/finish.js";
import { serviceAccountsToRelease } from "../../src/core/migrate/rollback.js";
import { audienceMismatch, nearMiss, type NearMissContext } from "../../src/core/doctor/checks/wi-federation.js";
import type { FederatedCredential } from "../../src/azure/federated-credentials.js";
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
    assert.deepEqual(config.spec.template.spec, { serviceAccountName: "web", serviceAccount: "web" }, "both: the API server keeps the deprecated alias equal to the name");
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
    assert.deepEqual(patch.spec.template.spec, { serviceAccountName: null, serviceAccount: null }, "the alias too: left alone, it would name podid's ServiceAccount again");
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
    assert.deepEqual(patch.spec.template.spec, { serviceAccountName: "mine", serviceAccount: "mine" });
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

describe("putting a finished workload back, and what is left of a migration", () => {
  const record = newWorkloadRecord({
    identities: [{ namespace: "ns", name: "id", resourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id", clientID: "c" }],
    bindings: [],
    selector: "web",
    serviceAccount: { before: null, after: "web" },
    added: { labels: ["azure.workload.identity/use"], annotations: [] },
    verified: { at: "t", by: "pod" },
    finished: { at: "t" },
  });
  const finished = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "ns", generation: 3, annotations: { [RECORD_ANNOTATION]: recordText(record) } }, spec: { replicas: 1, template: { metadata: { labels: { "azure.workload.identity/use": "true" } }, spec: { serviceAccountName: "web", containers: [] } } }, status: { observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 } } as unknown as Workload;

  it("first aadpodidbinding beside workload identity (the record says a wait for MIC is owed), then the template as it was", () => {
    const first = bindingBackPatch(finished, record, new Date(0)) as Record<string, any>;
    assert.deepEqual(first.spec.template, { metadata: { labels: { aadpodidbinding: "web" } } }, "nothing of workload identity goes yet");
    assert.deepEqual(workloadRecordOf({ metadata: { annotations: first.metadata.annotations } })?.relabelled, { at: "1970-01-01T00:00:00.000Z" });
    const both = { ...finished, spec: { ...finished.spec, template: { metadata: { labels: { "azure.workload.identity/use": "true", aadpodidbinding: "web" } }, spec: { serviceAccountName: "web", containers: [] } } } } as Workload;
    assert.equal(bindingBackPatch(both, record, new Date(0)), undefined, "a workload that kept its label: nothing to put back");
    assert.deepEqual((restorePatch(both, record, null) as Record<string, any>).spec.template.metadata.labels, { "azure.workload.identity/use": null });
  });

  it("an apply that moved a workload and did not verify it is named, with its rollout", () => {
    const moved = (status: object) => ({ ...finished, metadata: { ...finished.metadata, annotations: { [RECORD_ANNOTATION]: recordText({ ...record, verified: undefined, finished: undefined }) } }, spec: { ...finished.spec, template: { metadata: { labels: { "azure.workload.identity/use": "true", aadpodidbinding: "web" } }, spec: { serviceAccountName: "web", containers: [] } } }, status }) as Workload;
    assert.match(leftMidApply(moved({ observedGeneration: 3, replicas: 2, updatedReplicas: 0, availableReplicas: 1 }))!, /did not verify it \(interrupted\?\): its rollout is not complete \(0 of 1 updated, 1 available, 2 in all\)/);
    assert.match(leftMidApply(moved(finished.status!))!, /its rollout is complete/);
    assert.equal(leftMidApply(finished), undefined, "finished");
  });

  it("pods that ended and Jobs that ended use no binding; running ones and templates do", () => {
    const job = (name: string, done: boolean) => ({ apiVersion: "batch/v1", kind: "Job", metadata: { name, namespace: "ns" }, spec: { template: { metadata: { labels: { aadpodidbinding: "jobs" } }, spec: { containers: [] } } }, status: done ? { conditions: [{ type: "Complete", status: "True" }] } : {} }) as unknown as Workload;
    const pod = (name: string, phase: string) => ({ metadata: { name, namespace: "ns", labels: { aadpodidbinding: "jobs" } }, status: { phase } });
    const users = podIdentityUsers([pod("done", "Succeeded"), pod("failed", "Failed")], [job("nightly-1", true), job("once", true)]);
    assert.deepEqual([...users.keys()], [], "a migrated CronJob's past runs and a finished Job keep nothing");
    assert.deepEqual(podIdentityUsers([pod("running", "Running")], [job("now", false)]).get("jobs"), [{ namespace: "ns", ref: "pod/running" }, { namespace: "ns", ref: "job/now" }]);
  });

  it("finish checks a verified workload with the identities its record names, and cannot without them", () => {
    const id = record.identities[0].resourceID.toLowerCase();
    const azure = new Map([[id, { identity: { id, name: "id", resourceGroup: "g", subscriptionId: "s", location: "l", clientId: "c-now", principalId: "p", tenantId: "t", tags: {} }, credentials: [] }]]);
    assert.deepEqual(recheckIdentities(record, { azure }), { identities: [{ namespace: "ns", name: "id", clientId: "c-now", tenantId: "t" }] });
    assert.match((recheckIdentities(record, { azure: new Map() }) as { cannot: string }).cannot, /identity ns\/id .* cannot be read in Azure/);
    assert.match((recheckIdentities(undefined, { azure }) as { cannot: string }).cannot, /names no identity/);
    assert.match((recheckIdentities({ ...record, identities: [] }, { azure }) as { cannot: string }).cannot, /names no identity/);
  });

  it("rollback finds the ServiceAccounts podid made through their own record, once the workloads' records are gone", () => {
    const account = (name: string, workloads?: string[]) => ({ metadata: { name, namespace: "ns", annotations: { [RECORD_ANNOTATION]: recordText(newServiceAccountRecord({ created: true, annotations: [], credentials: [], ...(workloads ? { workloads } : {}) })) } } });
    const accounts = [account("web", ["deployment/web"]), account("worker", ["deployment/worker"]), account("old"), { metadata: { name: "plain", namespace: "ns" } }];
    const none = { workloads: [] };
    const scoped = serviceAccountsToRelease(accounts, { workloads: [{ kind: "deployment", name: "web" }], identity: undefined }, none, []);
    assert.deepEqual(scoped.map((s) => s.metadata?.name), ["web"], "--workload deployment/web: its ServiceAccount, though the plan no longer names it");
    assert.deepEqual(serviceAccountsToRelease(accounts, { workloads: [], identity: undefined }, none, []).map((s) => s.metadata?.name), ["web", "worker"], "unscoped: every one it named a workload in");
    // A record from before podid named workloads: found through what the workloads run as.
    const old = serviceAccountsToRelease(accounts, { workloads: [], identity: undefined }, none, [{ namespace: "ns", record: { ...record, serviceAccount: { before: null, after: "old" } } }]);
    assert.deepEqual(old.map((s) => s.metadata?.name), ["web", "worker", "old"]);
  });
});

describe("doctor's wi-federation: the fix for a wrong audience, and near misses only", () => {
  const ISSUER = "https://issuer.example/";
  const want = { issuer: ISSUER, subject: "system:serviceaccount:ns:app-v2", audience: "api://AzureADTokenExchange" };
  const cred = (name: string, subject: string, issuer = ISSUER, audiences = ["api://AzureADTokenExchange"]): FederatedCredential => ({ name, id: name, issuer, subject, audiences });
  const context = (inUse: string[], gone: string[] = []): NearMissContext => ({ inUse: new Set(inUse), exists: async (ns, name) => !gone.includes(`${ns}/${name}`) });

  it("same issuer and subject with another audience is that credential, to update", () => {
    assert.equal(audienceMismatch([cred("right", want.subject)], want), undefined);
    assert.equal(audienceMismatch([cred("aud", want.subject, ISSUER, ["api://other"])], want)?.name, "aud");
  });

  it("a credential of a ServiceAccount nothing runs as (renamed), of a namespace gone, or of another issuer is named; one another workload uses is not", async () => {
    const ctx = context(["ns/app-v2", "ns/other-app"], ["old-ns/app-v2"]);
    assert.match((await nearMiss(cred("renamed", "system:serviceaccount:ns:app"), want, ctx))!, /credential renamed names system:serviceaccount:ns:app, which nothing runs as/);
    assert.equal(await nearMiss(cred("theirs", "system:serviceaccount:ns:other-app"), want, ctx), undefined, "another workload's credential");
    assert.match((await nearMiss(cred("moved", "system:serviceaccount:old-ns:app-v2"), want, ctx))!, /the namespace was old-ns/);
    assert.equal(await nearMiss(cred("twin", "system:serviceaccount:live-ns:app-v2"), want, ctx), undefined, "the same name in a namespace that has it");
    assert.match((await nearMiss(cred("slash", want.subject, "https://issuer.example"), want, ctx))!, /a trailing slash/);
  });
});
