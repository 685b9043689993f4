import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/cli.js";
import { assertMatchesSchema, schemaErrors, type Schema } from "../helpers/json-schema.js";
import type { V1Pod, V1ServiceAccount } from "@kubernetes/client-node";
import type { AzureIdentity, AzureIdentityBinding, AzurePodIdentityException } from "../../src/aadpodidentity/types.js";
import type { Workload, WorkloadKind } from "../../src/kube/workloads.js";
import type { FederatedCredential } from "../../src/azure/federated-credentials.js";
import type { AzureIdentityFacts, Inventory, MigrateScope } from "../../src/core/migrate/inventory.js";
import { planMigration } from "../../src/core/migrate/plan.js";
import { credentialName, newWorkloadRecord, RECORD_ANNOTATION, recordText } from "../../src/core/migrate/records.js";
import { BLOCKER_CODES, type MigrationPlan, type WorkloadPlan } from "../../src/core/migrate/model.js";
import { planRows, statusRows } from "../../src/core/migrate/status.js";

// The migration plan from what was read: workloads found through pods' owners (Deployment, StatefulSet,
// DaemonSet, CronJob through its Jobs) and templates, the ServiceAccount each gets, the credentials, the blockers.

const SUB = "00000000-0000-0000-0000-000000000001";
const ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant/guid/";
const AUD = "api://AzureADTokenExchange";
const uami = (name: string) => `/subscriptions/${SUB}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
let uid = 0;
const nextUid = () => `uid-${++uid}`;

function identity(name: string, namespace = "apps", type = 0): AzureIdentity {
  return { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name, namespace }, spec: { type, resourceID: uami(name), clientID: `client-${name}` } };
}
function binding(name: string, azureIdentity: string, selector: string, namespace = "apps"): AzureIdentityBinding {
  return { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name, namespace }, spec: { azureIdentity, selector } };
}
function workload(kind: WorkloadKind, name: string, labels: Record<string, string>, options: { sa?: string; namespace?: string; hostNetwork?: boolean; annotations?: Record<string, string>; owner?: { kind: string; name: string; uid: string } } = {}): Workload {
  const template = { metadata: { labels }, spec: { ...(options.sa ? { serviceAccountName: options.sa } : {}), ...(options.hostNetwork ? { hostNetwork: true } : {}), containers: [{ name: "app", image: "app:1" }] } };
  const spec = kind === "CronJob" ? { schedule: "* * * * *", jobTemplate: { spec: { template } } } : { replicas: 1, template };
  return {
    apiVersion: kind === "CronJob" || kind === "Job" ? "batch/v1" : "apps/v1",
    kind,
    metadata: { name, namespace: options.namespace ?? "apps", uid: nextUid(), annotations: options.annotations, ...(options.owner ? { ownerReferences: [{ ...options.owner, controller: true }] } : {}) },
    spec,
  } as Workload;
}
function podOf(owner: { kind: string; name: string; uid?: string } | undefined, labels: Record<string, string>, namespace = "apps", name = `p-${nextUid()}`): V1Pod {
  return { metadata: { name, namespace, labels, ownerReferences: owner ? [{ apiVersion: "apps/v1", kind: owner.kind, name: owner.name, uid: owner.uid ?? "", controller: true }] : undefined }, spec: { containers: [] }, status: { phase: "Running" } };
}
const sa = (name: string, namespace = "apps", annotations?: Record<string, string>): V1ServiceAccount => ({ metadata: { name, namespace, annotations } });

interface World {
  identities?: AzureIdentity[];
  bindings?: AzureIdentityBinding[];
  workloads?: Workload[];
  replicaSets?: Workload[];
  jobs?: Workload[];
  pods?: V1Pod[];
  serviceAccounts?: V1ServiceAccount[];
  exceptions?: AzurePodIdentityException[];
  credentials?: Record<string, FederatedCredential[]>;
  oidc?: boolean;
}

function inventory(w: World): Inventory {
  const azure = new Map<string, AzureIdentityFacts>();
  for (const i of w.identities ?? []) {
    const id = i.spec.resourceID!;
    azure.set(id.toLowerCase(), { identity: { id, name: i.metadata.name, resourceGroup: "ids", subscriptionId: SUB, location: "eastus", clientId: i.spec.clientID!, principalId: "p", tenantId: "t", tags: {} }, credentials: w.credentials?.[i.metadata.name] ?? [] });
  }
  return {
    cluster: { name: "aks", resourceGroup: "rg", profile: { oidcIssuerEnabled: w.oidc ?? true, issuerUrl: w.oidc === false ? undefined : ISSUER, workloadIdentityEnabled: w.oidc ?? true } },
    identities: w.identities ?? [],
    bindings: w.bindings ?? [],
    exceptions: w.exceptions ?? [],
    forceNamespaced: false,
    pods: w.pods ?? [],
    workloads: [...(w.workloads ?? []), ...(w.jobs ?? [])],
    replicaSets: w.replicaSets ?? [],
    jobs: w.jobs ?? [],
    serviceAccounts: w.serviceAccounts ?? [sa("default")],
    azure,
  };
}
const scope = (s: Partial<MigrateScope> = {}): MigrateScope => ({ namespace: "apps", workloads: [], proxySidecarAll: false, proxySidecarFor: [], ...s });
const plan = (w: World, s: Partial<MigrateScope> = {}): MigrationPlan => planMigration(inventory(w), scope(s), { podidVersion: "0.0.0", now: new Date(0) });
const byRef = (p: MigrationPlan, ref: string): WorkloadPlan => {
  const w = p.workloads.find((x) => x.ref === ref);
  assert.ok(w, `${ref} in ${p.workloads.map((x) => x.ref).join(", ")}`);
  return w;
};
const codes = (w: WorkloadPlan) => w.blockers.map((b) => b.code);

/** A Deployment with its ReplicaSet and a running pod, the way the cluster has them. */
function deployment(name: string, labels: Record<string, string>, options: { sa?: string } = {}) {
  const d = workload("Deployment", name, labels, options);
  const rs = workload("Deployment", `${name}-abc`, labels, { owner: { kind: "Deployment", name, uid: d.metadata.uid! } });
  const rsAsReplicaSet = { ...rs, kind: "ReplicaSet" } as unknown as Workload;
  return { d, rs: rsAsReplicaSet, pod: podOf({ kind: "ReplicaSet", name: rs.metadata.name, uid: rs.metadata.uid }, labels) };
}

describe("migrate plan", () => {
  const idA = identity("id-a");
  const idB = identity("id-b");
  const bindings = [binding("a-binding", "id-a", "web"), binding("b-binding", "id-b", "jobs")];

  it("a Deployment on its own ServiceAccount keeps it; one on default gets a new one named after it; credentials named per issuer and subject", () => {
    const web = deployment("web", { app: "web", aadpodidbinding: "web" }, { sa: "web-sa" });
    const api = deployment("api", { app: "api", aadpodidbinding: "web" });
    const p = plan({ identities: [idA], bindings: [bindings[0]], workloads: [web.d, api.d], replicaSets: [web.rs, api.rs], pods: [web.pod, api.pod], serviceAccounts: [sa("default"), sa("web-sa")] });
    assert.deepEqual(p.blockers, []);
    const w = byRef(p, "deployment/web");
    assert.deepEqual(w.serviceAccount, { current: "web-sa", target: "web-sa", create: false });
    assert.equal(w.state, "pod-identity");
    assert.equal(w.pods, 1);
    assert.deepEqual(w.identities, ["apps/id-a"]);
    assert.deepEqual(w.serviceAccountAnnotations, { "azure.workload.identity/client-id": "client-id-a" });
    assert.deepEqual(w.podTemplateLabels, { "azure.workload.identity/use": "true" });
    assert.equal(w.migratable, true);
    const a = byRef(p, "deployment/api");
    assert.deepEqual(a.serviceAccount, { current: "default", target: "api", create: true });
    assert.deepEqual(p.serviceAccounts.map((s) => [s.name, s.action]).sort(), [["api", "create"], ["web-sa", "annotate"]]);
    assert.deepEqual(p.federatedCredentials.map((c) => [c.subject, c.name, c.action, c.issuer, c.audiences]).sort(), [
      ["system:serviceaccount:apps:api", credentialName(ISSUER, "apps", "api"), "create", ISSUER, [AUD]],
      ["system:serviceaccount:apps:web-sa", credentialName(ISSUER, "apps", "web-sa"), "create", ISSUER, [AUD]],
    ]);
    assert.equal(p.identities[0].credentials.toCreate, 2);
    assert.equal(p.summary.migratable, 2);
  });

  it("credential names are valid, stable, and differ per cluster issuer", () => {
    const name = credentialName(ISSUER, "a-namespace.with-a-very-long-name-that-goes-on-and-on-and-on", "sa.with.dots-and-a-very-long-name-that-goes-on-and-on-and-on-and-on-and-on");
    assert.match(name, /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$/);
    assert.equal(credentialName(ISSUER, "ns", "sa"), credentialName(ISSUER, "ns", "sa"));
    assert.notEqual(credentialName(ISSUER, "ns", "sa"), credentialName("https://other/", "ns", "sa"));
  });

  it("StatefulSets, DaemonSets and CronJobs (through their Jobs) are found from pods; a standalone Job, a bare pod and an operator's pods are listed as blocked", () => {
    const sts = workload("StatefulSet", "db", { aadpodidbinding: "jobs" }, { sa: "db" });
    const ds = workload("DaemonSet", "agent", { aadpodidbinding: "jobs" }, { sa: "agent" });
    const cron = workload("CronJob", "nightly", { aadpodidbinding: "jobs" }, { sa: "nightly" });
    const cronRun = workload("Job", "nightly-1", { aadpodidbinding: "jobs" }, { sa: "nightly", owner: { kind: "CronJob", name: "nightly", uid: cron.metadata.uid! } });
    const job = workload("Job", "once", { aadpodidbinding: "jobs" }, { sa: "once" });
    const pods = [
      podOf({ kind: "StatefulSet", name: "db", uid: sts.metadata.uid }, { aadpodidbinding: "jobs" }),
      podOf({ kind: "DaemonSet", name: "agent", uid: ds.metadata.uid }, { aadpodidbinding: "jobs" }),
      podOf({ kind: "Job", name: "nightly-1", uid: cronRun.metadata.uid }, { aadpodidbinding: "jobs" }),
      podOf({ kind: "Job", name: "once", uid: job.metadata.uid }, { aadpodidbinding: "jobs" }),
      podOf(undefined, { aadpodidbinding: "jobs" }, "apps", "lonely"),
      podOf({ kind: "Rollout", name: "canary" }, { aadpodidbinding: "jobs" }),
    ];
    const p = plan({ identities: [idB], bindings: [bindings[1]], workloads: [sts, ds, cron], jobs: [cronRun, job], pods, serviceAccounts: ["default", "db", "agent", "nightly", "once"].map((n) => sa(n)) });
    assert.deepEqual(p.workloads.map((w) => w.ref).sort(), ["cronjob/nightly", "daemonset/agent", "job/once", "pod/lonely", "rollout/canary", "statefulset/db"]);
    for (const ref of ["statefulset/db", "daemonset/agent", "cronjob/nightly"]) assert.equal(byRef(p, ref).migratable, true, `${ref}: ${JSON.stringify(byRef(p, ref).blockers)}`);
    assert.equal(byRef(p, "cronjob/nightly").pods, 1);
    assert.deepEqual(codes(byRef(p, "job/once")), ["ImmutableJob"]);
    assert.deepEqual(codes(byRef(p, "pod/lonely")), ["BarePod"]);
    assert.deepEqual(codes(byRef(p, "rollout/canary")), ["UnsupportedOwner"]);
    assert.deepEqual(p.federatedCredentials.map((c) => c.subject).sort(), ["system:serviceaccount:apps:agent", "system:serviceaccount:apps:db", "system:serviceaccount:apps:nightly"]);
  });

  it("a workload with no pod (a CronJob between runs, a Deployment at 0) is found by its template's label", () => {
    const cron = workload("CronJob", "nightly", { aadpodidbinding: "jobs" }, { sa: "nightly" });
    const p = plan({ identities: [idB], bindings: [bindings[1]], workloads: [cron], serviceAccounts: [sa("default"), sa("nightly")] });
    assert.equal(byRef(p, "cronjob/nightly").pods, 0);
    assert.equal(byRef(p, "cronjob/nightly").migratable, true);
  });

  it("a ServiceAccount shared by workloads of different identities blocks both; shared with the same identity, it is used once", () => {
    const one = deployment("one", { aadpodidbinding: "web" }, { sa: "shared" });
    const two = deployment("two", { aadpodidbinding: "jobs" }, { sa: "shared" });
    const p = plan({ identities: [idA, idB], bindings, workloads: [one.d, two.d], replicaSets: [one.rs, two.rs], pods: [one.pod, two.pod], serviceAccounts: [sa("default"), sa("shared")] });
    assert.deepEqual(codes(byRef(p, "deployment/one")), ["SharedServiceAccount"]);
    assert.deepEqual(codes(byRef(p, "deployment/two")), ["SharedServiceAccount"]);
    assert.match(byRef(p, "deployment/one").blockers[0].message, /also used by deployment\/two \(other identities\)/);
    assert.deepEqual(p.federatedCredentials, []);

    const three = deployment("three", { aadpodidbinding: "web" }, { sa: "shared" });
    const same = plan({ identities: [idA], bindings: [bindings[0]], workloads: [one.d, three.d], replicaSets: [one.rs, three.rs], pods: [one.pod, three.pod], serviceAccounts: [sa("default"), sa("shared")] });
    assert.equal(byRef(same, "deployment/one").migratable, true);
    assert.equal(same.federatedCredentials.length, 1);
    assert.deepEqual(same.federatedCredentials[0].workloads.sort(), ["apps/deployment/one", "apps/deployment/three"]);
    // A workload without pod identity on the same ServiceAccount could use the identity too: blocked.
    const plain = workload("Deployment", "plain", { app: "plain" }, { sa: "shared" });
    const widened = plan({ identities: [idA], bindings: [bindings[0]], workloads: [one.d, plain], replicaSets: [one.rs], pods: [one.pod], serviceAccounts: [sa("default"), sa("shared")] });
    assert.deepEqual(codes(byRef(widened, "deployment/one")), ["SharedServiceAccount"]);
  });

  it("two workloads of one name on default get ServiceAccounts that do not clash; a name taken by another workload blocks", () => {
    const d = deployment("app", { aadpodidbinding: "web" });
    const s = workload("StatefulSet", "app", { aadpodidbinding: "web" });
    const p = plan({ identities: [idA], bindings: [bindings[0]], workloads: [d.d, s], replicaSets: [d.rs], pods: [d.pod], serviceAccounts: [sa("default")] });
    assert.deepEqual([byRef(p, "deployment/app").serviceAccount?.target, byRef(p, "statefulset/app").serviceAccount?.target], ["app-deployment", "app-statefulset"]);
    const other = workload("Deployment", "other", { app: "other" }, { sa: "web" });
    const web = deployment("web", { aadpodidbinding: "web" });
    const taken = plan({ identities: [idA], bindings: [bindings[0]], workloads: [web.d, other], replicaSets: [web.rs], pods: [web.pod], serviceAccounts: [sa("default"), sa("web")] });
    assert.deepEqual(codes(byRef(taken, "deployment/web")), ["ServiceAccountTaken"]);
  });

  it("an identity at 19 credentials takes one more (with a warning); at 20 the workloads that need one are blocked", () => {
    const cred = (i: number): FederatedCredential => ({ name: `c${i}`, id: `x/${i}`, issuer: ISSUER, subject: `system:serviceaccount:other:s${i}`, audiences: [AUD] });
    const web = deployment("web", { aadpodidbinding: "web" }, { sa: "web" });
    const world = (n: number): World => ({ identities: [idA], bindings: [bindings[0]], workloads: [web.d], replicaSets: [web.rs], pods: [web.pod], serviceAccounts: [sa("default"), sa("web")], credentials: { "id-a": Array.from({ length: n }, (_, i) => cred(i)) } });
    const at19 = plan(world(19));
    assert.equal(byRef(at19, "deployment/web").migratable, true);
    assert.deepEqual(at19.identities[0].credentials, { existing: 19, toCreate: 1, afterMigration: 20, limit: 20 });
    assert.ok(at19.warnings.some((w) => /will hold 20 of 20 federated credentials/.test(w)), at19.warnings.join("\n"));
    const at20 = plan(world(20));
    assert.deepEqual(codes(byRef(at20, "deployment/web")), ["CredentialLimit"]);
    assert.deepEqual(at20.federatedCredentials, []);
    // One that matches already (any name) is used, not counted again.
    const existing: FederatedCredential = { name: "by-hand", id: "x/h", issuer: ISSUER, subject: "system:serviceaccount:apps:web", audiences: [AUD] };
    const reuse = plan({ ...world(19), credentials: { "id-a": [...Array.from({ length: 19 }, (_, i) => cred(i)), existing] } });
    assert.equal(byRef(reuse, "deployment/web").migratable, true);
    assert.deepEqual(reuse.federatedCredentials.map((c) => [c.name, c.action, c.podids]), [["by-hand", "none", false]]);
    // Same issuer and subject with another audience: the identity cannot hold a second one.
    const wrong = plan({ ...world(0), credentials: { "id-a": [{ ...existing, audiences: ["api://other"] }] } });
    assert.deepEqual(codes(byRef(wrong, "deployment/web")), ["CredentialAudience"]);
  });

  it("the 20 credentials go first to workloads podid moved (a deleted one is put back), then in order: at 18, two of three new ones fit", () => {
    const cred = (i: number): FederatedCredential => ({ name: `c${i}`, id: `x/${i}`, issuer: ISSUER, subject: `system:serviceaccount:other:s${i}`, audiences: [AUD] });
    const names = ["a", "b", "c"];
    const fresh = names.map((n) => deployment(n, { aadpodidbinding: "web" }, { sa: n }));
    const world = (n: number, extra: Partial<World> = {}): World => ({
      identities: [idA], bindings: [bindings[0]], workloads: fresh.map((f) => f.d), replicaSets: fresh.map((f) => f.rs), pods: fresh.map((f) => f.pod),
      serviceAccounts: [sa("default"), ...names.map((n) => sa(n))], credentials: { "id-a": Array.from({ length: n }, (_, i) => cred(i)) }, ...extra,
    });
    const at18 = plan(world(18));
    assert.deepEqual(at18.workloads.map((w) => [w.ref, w.migratable]), [["deployment/a", true], ["deployment/b", true], ["deployment/c", false]]);
    assert.deepEqual(codes(byRef(at18, "deployment/c")), ["CredentialLimit"]);
    assert.match(byRef(at18, "deployment/c").blockers[0].message, /has 18 federated credentials and gets 2 more: .* deployment\/c in apps cannot have its/);
    assert.deepEqual(at18.federatedCredentials.map((c) => c.subject), ["system:serviceaccount:apps:a", "system:serviceaccount:apps:b"]);
    assert.deepEqual(at18.identities[0].credentials, { existing: 18, toCreate: 2, afterMigration: 20, limit: 20 });

    // "z" was moved already and its credential deleted since: at 19 it gets the last one, before any new workload.
    const record = recordText(newWorkloadRecord({ identities: [{ namespace: "apps", name: "id-a", resourceID: uami("id-a"), clientID: "client-id-a" }], bindings: [], selector: "web", serviceAccount: { before: "z", after: "z" }, added: { labels: ["azure.workload.identity/use"], annotations: [] }, verified: { at: "t", by: "pod" }, finished: { at: "t" } }));
    const z = workload("Deployment", "z", { "azure.workload.identity/use": "true" }, { sa: "z", annotations: { [RECORD_ANNOTATION]: record } });
    const restore = plan(world(19, { workloads: [...fresh.map((f) => f.d), z], serviceAccounts: [sa("default"), ...[...names, "z"].map((n) => sa(n))] }));
    assert.equal(byRef(restore, "deployment/z").migratable, true);
    assert.deepEqual(restore.federatedCredentials.map((c) => [c.subject, c.action]), [["system:serviceaccount:apps:z", "create"]]);
    assert.deepEqual(["deployment/a", "deployment/b", "deployment/c"].map((r) => codes(byRef(restore, r))), [["CredentialLimit"], ["CredentialLimit"], ["CredentialLimit"]]);
  });

  it("--workload and --identity choose what moves, never the verdict: a shared ServiceAccount or a taken name is seen through every workload of the namespace", () => {
    const one = deployment("one", { aadpodidbinding: "web" }, { sa: "shared" });
    const two = deployment("two", { aadpodidbinding: "jobs" }, { sa: "shared" });
    const world: World = { identities: [idA, idB], bindings, workloads: [one.d, two.d], replicaSets: [one.rs, two.rs], pods: [one.pod, two.pod], serviceAccounts: [sa("default"), sa("shared")] };
    for (const s of [{}, { workloads: [{ kind: "deployment", name: "one" }] }, { identity: "id-a" }]) assert.deepEqual(codes(byRef(plan(world, s), "deployment/one")), ["SharedServiceAccount"], JSON.stringify(s));
    // Two of one name on default: each gets <name>-<kind>, whichever is asked for.
    const d = deployment("app", { aadpodidbinding: "web" });
    const st = workload("StatefulSet", "app", { aadpodidbinding: "web" });
    const named: World = { identities: [idA], bindings: [bindings[0]], workloads: [d.d, st], replicaSets: [d.rs], pods: [d.pod], serviceAccounts: [sa("default")] };
    assert.equal(byRef(plan(named, { workloads: [{ kind: "deployment", name: "app" }] }), "deployment/app").serviceAccount?.target, "app-deployment");
    assert.equal(byRef(plan(named, { workloads: [{ kind: "statefulset", name: "app" }] }), "statefulset/app").serviceAccount?.target, "app-statefulset");
  });

  it("Jobs that have ended are nothing to move: not a candidate, not a user of a ServiceAccount", () => {
    const done = { conditions: [{ type: "Complete", status: "True" }] };
    const once = { ...workload("Job", "once", { aadpodidbinding: "jobs" }, { sa: "nightly" }), status: done } as Workload;
    const cron = workload("CronJob", "nightly", { aadpodidbinding: "jobs" }, { sa: "nightly" });
    const p = plan({ identities: [idB], bindings: [bindings[1]], workloads: [cron], jobs: [once], serviceAccounts: [sa("default"), sa("nightly")] });
    assert.deepEqual(p.workloads.map((w) => [w.ref, w.migratable]), [["cronjob/nightly", true]]);
  });

  it("before the cluster has its OIDC issuer, credential names say their issuer hash is not known yet", () => {
    const web = deployment("web", { aadpodidbinding: "web" }, { sa: "web" });
    const p = plan({ oidc: false, identities: [idA], bindings: [bindings[0]], workloads: [web.d], replicaSets: [web.rs], pods: [web.pod], serviceAccounts: [sa("default"), sa("web")] });
    assert.deepEqual(p.federatedCredentials.map((c) => [c.name, c.issuer]), [["podid-apps-web-<issuer-hash>", null]]);
    assert.equal(credentialName(null, "apps", "web"), "podid-apps-web-<issuer-hash>");
  });

  it("without the OIDC issuer and workload identity, the plan names them with the az aks update line", () => {
    const web = deployment("web", { aadpodidbinding: "web" }, { sa: "web" });
    const p = plan({ oidc: false, identities: [idA], bindings: [bindings[0]], workloads: [web.d], replicaSets: [web.rs], pods: [web.pod], serviceAccounts: [sa("default"), sa("web")] });
    assert.deepEqual(p.blockers.map((b) => b.code), ["OidcIssuerDisabled", "WorkloadIdentityDisabled"]);
    assert.equal(p.blockers[0].remedy, "az aks update -g rg -n aks --enable-oidc-issuer --enable-workload-identity   # or: podid migrate apply --enable-workload-identity");
    assert.equal(p.cluster.issuerUrl, null);
  });

  it("service principal identities, exception pods, labels only on pods and the proxy on the host network block, each saying why", () => {
    const sp = identity("sp", "apps", 1);
    const spd = deployment("spd", { aadpodidbinding: "sp" }, { sa: "spd" });
    const exc = deployment("exc", { aadpodidbinding: "web", team: "ops" }, { sa: "exc" });
    const podsOnly = deployment("hand", { app: "hand" }, { sa: "hand" });
    podsOnly.pod.metadata!.labels = { aadpodidbinding: "web" };
    const host = workload("DaemonSet", "host", { aadpodidbinding: "web" }, { sa: "host", hostNetwork: true });
    const exception: AzurePodIdentityException = { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzurePodIdentityException", metadata: { name: "ops", namespace: "apps" }, spec: { podLabels: { team: "ops" } } };
    const p = plan(
      { identities: [idA, sp], bindings: [bindings[0], binding("sp-binding", "sp", "sp")], workloads: [spd.d, exc.d, podsOnly.d, host], replicaSets: [spd.rs, exc.rs, podsOnly.rs], pods: [spd.pod, exc.pod, podsOnly.pod], exceptions: [exception], serviceAccounts: ["default", "spd", "exc", "hand", "host"].map((n) => sa(n)) },
      { proxySidecarFor: [{ kind: "daemonset", name: "host" }] },
    );
    assert.deepEqual(codes(byRef(p, "deployment/spd")), ["ServicePrincipalIdentity"]);
    assert.deepEqual(codes(byRef(p, "deployment/exc")), ["ExceptionPod"]);
    assert.deepEqual(codes(byRef(p, "deployment/hand")), ["LabelOnPodsOnly"]);
    assert.deepEqual(codes(byRef(p, "daemonset/host")), ["ProxyOnHostNetwork"]);
    assert.equal(byRef(p, "daemonset/host").proxySidecar, true);
  });

  it("--identity and --workload narrow the plan; a ServiceAccount annotated for another identity blocks", () => {
    const web = deployment("web", { aadpodidbinding: "web" }, { sa: "web" });
    const job = workload("CronJob", "nightly", { aadpodidbinding: "jobs" }, { sa: "nightly" });
    const world: World = { identities: [idA, idB], bindings, workloads: [web.d, job], replicaSets: [web.rs], pods: [web.pod], serviceAccounts: [sa("default"), sa("web", "apps", { "azure.workload.identity/client-id": "someone-else" }), sa("nightly")] };
    assert.deepEqual(plan(world, { identity: "id-b" }).workloads.map((w) => w.ref), ["cronjob/nightly"]);
    assert.deepEqual(plan(world, { workloads: [{ kind: "deployment", name: "web" }] }).workloads.map((w) => w.ref), ["deployment/web"]);
    assert.deepEqual(codes(byRef(plan(world), "deployment/web")), ["ServiceAccountAnnotated"]);
  });

  it("states from the template and podid's record: both, verified, finished (found by the record once the label is gone)", () => {
    const record = (extra: object) =>
      recordText(newWorkloadRecord({ identities: [{ namespace: "apps", name: "id-a", resourceID: uami("id-a"), clientID: "client-id-a" }], bindings: [], selector: "web", serviceAccount: { before: null, after: "web" }, added: { labels: ["azure.workload.identity/use"], annotations: [] }, ...extra }));
    const both = workload("Deployment", "both", { aadpodidbinding: "web", "azure.workload.identity/use": "true" }, { sa: "web", annotations: { [RECORD_ANNOTATION]: record({}) } });
    const verified = workload("Deployment", "verified", { aadpodidbinding: "web", "azure.workload.identity/use": "true" }, { sa: "web", annotations: { [RECORD_ANNOTATION]: record({ verified: { at: "t", by: "pod" } }) } });
    const finished = workload("Deployment", "finished", { "azure.workload.identity/use": "true" }, { sa: "web", annotations: { [RECORD_ANNOTATION]: record({ verified: { at: "t", by: "pod" }, finished: { at: "t" } }) } });
    const failed = workload("Deployment", "failed", { aadpodidbinding: "web" }, { annotations: { [RECORD_ANNOTATION]: record({ failed: { at: "t", reason: "no ready pod" } }) } });
    const p = plan({ identities: [], bindings: [], workloads: [both, verified, finished, failed], serviceAccounts: [sa("default"), sa("web")] });
    assert.deepEqual(
      p.workloads.map((w) => [w.ref, w.state]),
      [["deployment/both", "both"], ["deployment/failed", "pod-identity"], ["deployment/finished", "finished"], ["deployment/verified", "verified"]],
    );
    assert.deepEqual(byRef(p, "deployment/finished").identities, ["apps/id-a"]);
    assert.deepEqual(byRef(p, "deployment/failed").lastFailure, { at: "t", reason: "no ready pod" });
    assert.deepEqual(p.summary.states, { "pod-identity": 1, both: 1, verified: 1, finished: 1 });
  });
});

describe("plan and status rows", () => {
  const record = (extra: object) =>
    recordText(newWorkloadRecord({ identities: [{ namespace: "apps", name: "id-a", resourceID: uami("id-a"), clientID: "client-id-a" }], bindings: [], selector: "web", serviceAccount: { before: null, after: "web" }, added: { labels: ["azure.workload.identity/use"], annotations: [] }, ...extra }));
  const verified = workload("Deployment", "web", { aadpodidbinding: "web", "azure.workload.identity/use": "true" }, { sa: "web", annotations: { [RECORD_ANNOTATION]: record({ verified: { at: "t", by: "pod" } }) } });
  const world = (serviceAccounts: V1ServiceAccount[], credentials: FederatedCredential[]): World => ({ identities: [identity("id-a")], bindings: [binding("a-binding", "id-a", "web")], workloads: [verified], serviceAccounts, credentials: { "id-a": credentials } });
  const ok: FederatedCredential = { name: credentialName(ISSUER, "apps", "web"), id: "x", issuer: ISSUER, subject: "system:serviceaccount:apps:web", audiences: [AUD] };

  it("say the ServiceAccount one way in both, and status says what went missing since verification", () => {
    const fine = plan(world([sa("default"), sa("web", "apps", { "azure.workload.identity/client-id": "client-id-a" })], [ok]));
    assert.deepEqual(statusRows(fine, inventory(world([], []))).map((r) => [r.workload, r.serviceAccount, r.note]), [["deployment/web", "web", "workload identity verified; next: podid migrate finish"]]);
    const gone = plan(world([sa("default")], []));
    assert.deepEqual(planRows(gone).map((r) => [r.workload, r.serviceAccount]), [["deployment/web", "web (new)"]]);
    assert.deepEqual(statusRows(gone, inventory(world([], []))).map((r) => r.note), [
      `workload identity verified, but its ServiceAccount apps/web is gone and its federated credential ${credentialName(ISSUER, "apps", "web")} of identity apps/id-a is gone; next: podid migrate apply (puts it back)`,
    ]);
  });
});

describe("the plan's published schema (docs/migrate-plan.schema.json)", () => {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, "docs", "migrate-plan.schema.json"), "utf8")) as Schema & { properties: Record<string, Schema> };

  it("names every blocker code, and only those", () => {
    const blocker = schema.properties.blockers.items!;
    assert.deepEqual(blocker.properties!.code.enum, [...BLOCKER_CODES]);
  });

  it("fits plans with and without blockers, and refuses a field it does not document", () => {
    const web = deployment("web", { aadpodidbinding: "web" }, { sa: "web" });
    const lonely = podOf(undefined, { aadpodidbinding: "web" }, "apps", "lonely");
    const p = plan({ identities: [identity("id-a")], bindings: [binding("a-binding", "id-a", "web")], workloads: [web.d], replicaSets: [web.rs], pods: [web.pod, lonely], serviceAccounts: [sa("default"), sa("web")] });
    assertMatchesSchema(JSON.parse(JSON.stringify(p)), schema);
    assertMatchesSchema(JSON.parse(JSON.stringify(plan({ oidc: false }))), schema);
    assert.ok(schemaErrors({ ...JSON.parse(JSON.stringify(p)), extra: 1 }, schema).includes("$.extra: not in the schema"));
  });
});
