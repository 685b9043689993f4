import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { FederatedIdentityCredential } from "@azure/arm-msi";
import { ADMIN_KEY_HEADER } from "../../src/sandbox/azure/admin.js";
import { API_VERSIONS } from "../../src/sandbox/azure/api-versions.js";
import { ArmErrors } from "../../src/sandbox/azure/arm-errors.js";
import { assertArmError, rejectsWithArmError, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { MANAGED_IDENTITY_OPERATOR } from "../helpers/roles.js";

/**
 * Federated identity credentials of user-assigned identities through @azure/arm-msi, with ARM's rules: names,
 * bodies, at most 20 per identity, one (issuer, subject) pair each, concurrent writes to one identity refused with
 * 409, the federatedIdentityCredentials actions of RBAC, the api-versions real clients send, faults; and the cluster
 * switches `az aks update --enable-oidc-issuer --enable-workload-identity` makes, with the issuer it then serves.
 */

const MANAGED_IDENTITY_CONTRIBUTOR = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59";
const FIC_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials";
const ISSUER = "https://oidc.example.test/tenant/cluster/";
const AUDIENCE = "api://AzureADTokenExchange";

let sb: AzureSandbox;
let rg: string;
before(async () => {
  sb = await startAzureSandbox({ nodes: 1 });
  rg = sb.seed.resourceGroup;
});
after(async () => sb?.close());

const credential = (subject: string, issuer = ISSUER): FederatedIdentityCredential => ({ issuer, subject, audiences: [AUDIENCE] });

async function newIdentity() {
  const name = `id-${randomUUID().slice(0, 8)}`;
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(rg, name, { location: "eastus" });
  return { name, id: created.id!, principalId: created.principalId! };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function settings(patch: Record<string, number>): Promise<void> {
  const res = await sb.raw(`${sb.cloud.endpoints.arm}/.sandbox/settings`, { method: "PATCH", headers: { [ADMIN_KEY_HEADER]: sb.cloud.adminKey }, body: JSON.stringify(patch) });
  assert.equal(res.status, 200, res.text);
}

async function grant(role: string, principalId: string, scope: string): Promise<void> {
  await sb.clients.authorization.roleAssignments.create(scope, randomUUID(), {
    roleDefinitionId: `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
    principalId,
    principalType: "ServicePrincipal",
  });
}

test("create, read, update, list and delete a federated credential; it goes with its identity", async () => {
  const identity = await newIdentity();
  const created = await sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "app-credential", credential("system:serviceaccount:default:app"));
  assert.equal(created.id, `${identity.id}/federatedIdentityCredentials/app-credential`);
  assert.equal(created.type, FIC_TYPE);
  assert.deepEqual([created.issuer, created.subject, created.audiences], [ISSUER, "system:serviceaccount:default:app", [AUDIENCE]]);
  const updated = await sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "app-credential", credential("system:serviceaccount:default:app2"));
  assert.equal(updated.subject, "system:serviceaccount:default:app2");
  const read = await sb.clients.msi.federatedIdentityCredentials.get(rg, identity.name, "app-credential");
  assert.equal(read.subject, "system:serviceaccount:default:app2");
  await sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "second", credential("system:serviceaccount:default:other"));
  const listed = await collect(sb.clients.msi.federatedIdentityCredentials.list(rg, identity.name, { top: 1 }));
  assert.deepEqual(listed.map((c) => c.name).sort(), ["app-credential", "second"], "paged with $top and a nextLink");
  await sb.clients.msi.federatedIdentityCredentials.delete(rg, identity.name, "second");
  await rejectsWithArmError(
    sb.clients.msi.federatedIdentityCredentials.get(rg, identity.name, "second"),
    ArmErrors.resourceNotFound(`Microsoft.ManagedIdentity/userAssignedIdentities/${identity.name}/federatedIdentityCredentials/second`, rg),
  );
  await sb.clients.msi.userAssignedIdentities.delete(rg, identity.name);
  await sb.clients.msi.userAssignedIdentities.createOrUpdate(rg, identity.name, { location: "eastus" });
  assert.deepEqual(await collect(sb.clients.msi.federatedIdentityCredentials.list(rg, identity.name)), [], "deleting an identity deletes its credentials");
  await rejectsWithArmError(
    sb.clients.msi.federatedIdentityCredentials.list(rg, "no-such-identity").next(),
    ArmErrors.resourceNotFound("Microsoft.ManagedIdentity/userAssignedIdentities/no-such-identity", rg),
  );
});

test("names, bodies and (issuer, subject) pairs are checked as ARM checks them", async () => {
  const identity = await newIdentity();
  const fic = sb.clients.msi.federatedIdentityCredentials;
  for (const bad of ["ab", "-leading", "has.dot", "x".repeat(121)]) {
    await rejectsWithArmError(fic.createOrUpdate(rg, identity.name, bad, credential("s")), ArmErrors.invalidResourceName(bad, 120));
  }
  await fic.createOrUpdate(rg, identity.name, "x".repeat(120), credential("long-name"));
  await rejectsWithArmError(fic.createOrUpdate(rg, identity.name, "no-subject", { issuer: ISSUER, audiences: [AUDIENCE] }), ArmErrors.invalidFederatedCredential("Federated Identity Credential must specify 'issuer', 'subject' and 'audience'."));
  await rejectsWithArmError(
    fic.createOrUpdate(rg, identity.name, "plain-http", credential("s", "http://oidc.example.test/")),
    ArmErrors.invalidFederatedCredential("Federated Identity Credential 'issuer' must be an https URL of at most 600 characters."),
  );
  await fic.createOrUpdate(rg, identity.name, "first", credential("system:serviceaccount:ns:sa"));
  await rejectsWithArmError(fic.createOrUpdate(rg, identity.name, "again", credential("system:serviceaccount:ns:sa")), ArmErrors.federatedCredentialExists());
  await fic.createOrUpdate(rg, identity.name, "trailing-space", credential("system:serviceaccount:ns:sa "));
});

test("an identity holds at most 20 federated credentials: the 21st is refused, an update of one of the 20 is not", async () => {
  await settings({ federatedCredentialWriteMs: 0 });
  try {
    const identity = await newIdentity();
    for (let i = 1; i <= 20; i++) await sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, `fic-${i}`, credential(`subject-${i}`));
    await rejectsWithArmError(sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "fic-21", credential("subject-21")), ArmErrors.tooManyFederatedCredentials(identity.id, 20));
    await sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "fic-20", credential("subject-20b"));
    assert.equal((await collect(sb.clients.msi.federatedIdentityCredentials.list(rg, identity.name))).length, 20);
  } finally {
    await settings({ federatedCredentialWriteMs: 200 });
  }
});

test("concurrent writes to one identity's credentials: one succeeds, the others get ARM's 409; another identity is not held up", async () => {
  await settings({ federatedCredentialWriteMs: 1500 });
  try {
    const [a, b] = [await newIdentity(), await newIdentity()];
    const writes = await Promise.allSettled([
      ...["one", "two", "three"].map((n) => sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, a.name, n, credential(`subject-${n}`))),
      sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, b.name, "elsewhere", credential("subject-b")),
    ]);
    assert.equal(writes[3].status, "fulfilled", "the other identity's write");
    const onA = writes.slice(0, 3);
    assert.equal(onA.filter((w) => w.status === "fulfilled").length, 1, JSON.stringify(onA.map((w) => w.status)));
    for (const refused of onA.filter((w): w is PromiseRejectedResult => w.status === "rejected")) {
      const err = refused.reason as { statusCode?: number; response?: { bodyAsText?: string } };
      assert.equal(err.statusCode, 409);
      assert.deepEqual(JSON.parse(err.response?.bodyAsText ?? "{}"), ArmErrors.concurrentFederatedCredentialWrites(a.id).body);
    }
    assert.equal((await collect(sb.clients.msi.federatedIdentityCredentials.list(rg, a.name))).length, 1, "nothing half-made");
  } finally {
    await settings({ federatedCredentialWriteMs: 200 });
  }
});

test("RBAC: Managed Identity Operator may read credentials but not write or delete them; Managed Identity Contributor may", async () => {
  const identity = await newIdentity();
  await sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "existing", credential("s1"));
  const operator = sb.addApplication(`mio-${randomUUID().slice(0, 8)}`);
  await grant(MANAGED_IDENTITY_OPERATOR, operator.objectId, identity.id);
  const ficId = (name: string) => `${identity.id}/federatedIdentityCredentials/${name}`;
  assert.equal((await collect(operator.clients.msi.federatedIdentityCredentials.list(rg, identity.name))).length, 1);
  await rejectsWithArmError(
    operator.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "mine", credential("s2")),
    ArmErrors.authorizationFailed(operator.objectId, `${FIC_TYPE}/write`, ficId("mine")),
  );
  await rejectsWithArmError(
    operator.clients.msi.federatedIdentityCredentials.delete(rg, identity.name, "existing"),
    ArmErrors.authorizationFailed(operator.objectId, `${FIC_TYPE}/delete`, ficId("existing")),
  );
  const contributor = sb.addApplication(`mic-${randomUUID().slice(0, 8)}`);
  await grant(MANAGED_IDENTITY_CONTRIBUTOR, contributor.objectId, identity.id);
  const made = await contributor.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "theirs", credential("s3"));
  assert.equal(made.name, "theirs");
});

test("the api-versions real clients send are served; one from before federated credentials existed is not; faults apply", async () => {
  const identity = await newIdentity();
  const path = (name: string, version: string) => `${identity.id}/federatedIdentityCredentials/${name}?api-version=${version}`;
  const body = JSON.stringify({ properties: credential("versioned") });
  for (const [i, version] of ["2022-01-31-preview", "2023-01-31", "2024-11-30"].entries()) {
    const put = await sb.arm("PUT", path(`version-${i}`, version), { body: JSON.stringify({ properties: credential(`versioned-${i}`) }) });
    assert.equal(put.status, 201, `${version}: ${put.text}`);
    assert.equal((await sb.arm("GET", path(`version-${i}`, version))).status, 200);
  }
  const old = await sb.arm("PUT", path("too-old", "2021-09-30-preview"), { body });
  const range = API_VERSIONS.federatedCredentials;
  assertArmError(old, ArmErrors.invalidApiVersion("2021-09-30-preview", range.type, range.known));
  // A day that does not exist is not a version ARM can read at all.
  const impossible = await sb.arm("PUT", path("no-such-day", "2023-02-30"), { body });
  assertArmError(impossible, ArmErrors.invalidApiVersionParameter("2023-02-30", range.known));
  assert.equal((impossible.json as { error: { message: string } }).error.message, "The api-version '2023-02-30' is invalid. The supported versions are '2024-11-30,2023-07-31-preview,2023-01-31,2022-01-31-preview'.");
  assert.equal((await sb.arm("GET", path("no-such-day", "2023-01-31"))).status, 404, "nothing was written");

  const fault = await sb.raw(`${sb.cloud.endpoints.arm}/.sandbox/faults`, {
    method: "POST",
    headers: { [ADMIN_KEY_HEADER]: sb.cloud.adminKey },
    body: JSON.stringify({ service: "arm", method: "PUT", path: "*/federatedIdentityCredentials/*", status: 429, retryAfterSeconds: 0, count: 1 }),
  });
  assert.equal(fault.status, 200, fault.text);
  const afterThrottle = await sb.clients.msi.federatedIdentityCredentials.createOrUpdate(rg, identity.name, "throttled", credential("throttled"));
  assert.equal(afterThrottle.name, "throttled", "the SDK retried the 429 and succeeded");
  assert.deepEqual(sb.cloud.state.faults, [], "the one fault was used");
});

test("az aks update --enable-oidc-issuer --enable-workload-identity (GET then PUT); the issuer is served at its per-cluster URL; PATCH changes tags only", async () => {
  const aks = sb.clients.aks.managedClusters;
  const cluster = await aks.get(rg, sb.seed.clusterName);
  assert.deepEqual(cluster.oidcIssuerProfile, { enabled: false });
  await rejectsWithArmError(
    aks.beginCreateOrUpdateAndWait(rg, sb.seed.clusterName, { ...cluster, securityProfile: { workloadIdentity: { enabled: true } } }),
    ArmErrors.workloadIdentityNeedsOidcIssuer(),
  );
  const enabled = await aks.beginCreateOrUpdateAndWait(rg, sb.seed.clusterName, {
    ...cluster,
    oidcIssuerProfile: { enabled: true },
    securityProfile: { ...cluster.securityProfile, workloadIdentity: { enabled: true } },
  });
  const issuer = enabled.oidcIssuerProfile!.issuerURL!;
  assert.match(issuer, new RegExp(`^${sb.cloud.endpoints.oidcIssuer}/${sb.cloud.cliCredential.tenantId}/[0-9a-f-]{36}/$`));
  assert.equal(enabled.securityProfile?.workloadIdentity?.enabled, true);
  // A string where AKS's model has a boolean is the resource provider's UnmarshalError, not a silent no-op.
  const clusterPath = `/subscriptions/${sb.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ContainerService/managedClusters/${sb.seed.clusterName}?api-version=2025-10-01`;
  const raw = (await sb.arm("GET", clusterPath)).json as { properties: Record<string, unknown> };
  const typed = [
    [{ oidcIssuerProfile: { enabled: "true" } }, "string", "ManagedClusterOIDCIssuerProfile", "properties.oidcIssuerProfile.enabled"],
    [{ securityProfile: { workloadIdentity: { enabled: "yes" } } }, "string", "ManagedClusterSecurityProfileWorkloadIdentity", "properties.securityProfile.workloadIdentity.enabled"],
    [{ securityProfile: { workloadIdentity: { enabled: 1 } } }, "number", "ManagedClusterSecurityProfileWorkloadIdentity", "properties.securityProfile.workloadIdentity.enabled"],
  ] as const;
  for (const [properties, given, struct, field] of typed) {
    const refused = await sb.arm("PUT", clusterPath, { body: JSON.stringify({ ...raw, properties: { ...raw.properties, ...properties } }) });
    assertArmError(refused, ArmErrors.aksUnmarshalError(given, struct, field, "bool"));
  }
  assert.equal((await aks.get(rg, sb.seed.clusterName)).securityProfile?.workloadIdentity?.enabled, true, "the refused PUTs changed nothing");
  const again = await aks.beginCreateOrUpdateAndWait(rg, sb.seed.clusterName, enabled);
  assert.equal(again.oidcIssuerProfile!.issuerURL, issuer, "the issuer URL stays the cluster's");
  await rejectsWithArmError(aks.beginCreateOrUpdateAndWait(rg, sb.seed.clusterName, { ...again, oidcIssuerProfile: { enabled: false } }), ArmErrors.oidcIssuerCannotBeDisabled());

  const tagged = await aks.beginUpdateTagsAndWait(rg, sb.seed.clusterName, { tags: { team: "platform" } });
  assert.deepEqual(tagged.tags, { team: "platform" });
  assert.equal(tagged.oidcIssuerProfile!.issuerURL, issuer);

  const discovery = await sb.raw(`${issuer}.well-known/openid-configuration`);
  assert.equal(discovery.status, 200, discovery.text);
  assert.deepEqual(discovery.json, {
    issuer,
    jwks_uri: `${issuer}openid/v1/jwks`,
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
  });
  const key = { kty: "RSA", n: "AQAB", e: "AQAB", kid: "k1", use: "sig", alg: "RS256" };
  sb.cloud.publishIssuerKeys([key]);
  assert.deepEqual((await sb.raw(`${issuer}openid/v1/jwks`)).json, { keys: [key] });
  assert.equal((await sb.raw(`${issuer.toUpperCase().replace("HTTPS://", "https://")}.well-known/openid-configuration`)).status, 404, "the issuer path is exact");
  assert.equal((await sb.raw(`${sb.cloud.endpoints.oidcIssuer}/${sb.cloud.cliCredential.tenantId}/${randomUUID()}/.well-known/openid-configuration`)).status, 404);
});
