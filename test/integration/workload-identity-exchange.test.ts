import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type JWTPayload } from "jose";
import { readFileSync } from "node:fs";
import { runPodid } from "../helpers/cli.js";
import { rawRequest, type RawResponse } from "../helpers/raw-http.js";
import { answerText, TOKEN_EXCHANGE_AUDIENCE, WorkloadIdentitySandbox, type EntraErrorBody, type Identity } from "../helpers/workload-identity.js";

/**
 * Entra ID's exchange of a cluster's service-account token for a user-assigned identity's token, through
 * @azure/identity's WorkloadIdentityCredential and ClientAssertionCredential and raw, against a sandbox whose cluster
 * has the OIDC issuer and workload identity enabled: what it accepts (and that ARM treats its tokens as the
 * identity's), and each refusal by its AADSTS code, including the forgeries a hostile client would try.
 */

let w: WorkloadIdentitySandbox;
/** A token of the cluster's issuer from before the OIDC issuer was enabled. */
let defaultIssuerToken: string;
let defaultIssuerSa: string;

before(async () => {
  w = await WorkloadIdentitySandbox.start();
  defaultIssuerSa = await w.serviceAccount(undefined);
  defaultIssuerToken = await w.serviceAccountToken(defaultIssuerSa);
  await w.enableWorkloadIdentity();
});
after(async () => w?.stop());

const subjectOf = (sa: string, namespace = "default") => `system:serviceaccount:${namespace}:${sa}`;

/** Asserts Entra's refusal: status, OAuth error and AADSTS code; returns the description. */
function refused(res: RawResponse, status: number, error: string, code: number): string {
  const body = res.json as EntraErrorBody;
  assert.equal(res.status, status, answerText(res));
  assert.equal(body.error, error, res.text);
  assert.deepEqual(body.error_codes, [code], res.text);
  assert.ok(body.error_description.startsWith(`AADSTS${code}: `), body.error_description);
  return body.error_description;
}

function noMatch(res: RawResponse, issuer: string, subject: string, audience: string): void {
  const description = refused(res, 401, "invalid_client", 70021);
  assert.ok(
    description.includes(`No matching federated identity record found for presented assertion. Assertion Issuer: '${issuer}'. Assertion Subject: '${subject}'. Assertion Audience: '${audience}'.`),
    description,
  );
}

/** An identity federated with a new annotated ServiceAccount, and that ServiceAccount. */
async function federatedWorkload(options: { reader?: boolean } = {}): Promise<{ identity: Identity; sa: string }> {
  const identity = await w.identity({ readerOnNodeGroup: options.reader });
  const sa = await w.serviceAccount(identity);
  await w.federate(identity, subjectOf(sa));
  return { identity, sa };
}

/** A JWT with the given claims, signed by a key nobody publishes (or not signed at all). */
async function forged(claims: JWTPayload, header: { alg?: string; kid?: string } = {}): Promise<string> {
  if (header.alg === "none") {
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
  }
  const { privateKey } = await generateKeyPair("RS256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, nbf: now, exp: now + 3600, ...claims }).setProtectedHeader({ alg: "RS256", ...(header.kid ? { kid: header.kid } : {}) }).sign(privateKey);
}

test("WorkloadIdentityCredential and ClientAssertionCredential get the identity's token for a ServiceAccount token; ARM applies the identity's roles to it", async () => {
  const { identity, sa } = await federatedWorkload();
  const file = w.tokenFile(await w.serviceAccountToken(sa));
  const credential = w.workloadCredential(identity, file);
  const token = await credential.getToken(w.armScope);
  const claims = decodeJwt(token!.token) as Record<string, unknown>;
  // The claims IMDS-issued tokens carry for a user-assigned identity: ARM's RBAC cannot tell the paths apart.
  assert.equal(claims.oid, identity.principalId);
  assert.equal(claims.appid, identity.clientId);
  assert.equal(claims.xms_mirid, identity.id);
  assert.equal(claims.tid, w.info.tenantId);
  assert.equal(claims.idtyp, "app");

  const compute = w.compute(credential);
  await assert.rejects(compute.virtualMachineScaleSets.list(w.info.nodeResourceGroup).next(), (err: { statusCode?: number; code?: string }) => err.statusCode === 403 && err.code === "AuthorizationFailed");
  await w.clients.auth.roleAssignments.create(`/subscriptions/${w.info.subscriptionId}/resourceGroups/${w.info.nodeResourceGroup}`, crypto.randomUUID(), {
    roleDefinitionId: `/subscriptions/${w.info.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
    principalId: identity.principalId,
    principalType: "ServicePrincipal",
  });
  const scaleSets = [];
  for await (const s of compute.virtualMachineScaleSets.list(w.info.nodeResourceGroup)) scaleSets.push(s.name);
  assert.equal(scaleSets.length, 1);

  const assertion = w.assertionCredential(identity.clientId, async () => readFileSync(file, "utf8"));
  assert.equal(decodeJwt((await assertion.getToken(w.armScope))!.token).oid, identity.principalId);
  const v1 = await w.exchange(identity.clientId, readFileSync(file, "utf8"), { version: "v1" });
  assert.equal(v1.status, 200, answerText(v1));
  assert.equal((v1.json as { resource: string }).resource, w.info.endpoints.activeDirectoryResourceId, "the v1 endpoint too");
});

test("AADSTS70021 unless issuer, subject and audience all match a credential exactly (no trailing space or slash, no other issuer)", async () => {
  const { identity, sa } = await federatedWorkload();
  const good = await w.serviceAccountToken(sa);
  assert.equal((await w.exchange(identity.clientId, good)).status, 200);

  const otherSa = await w.serviceAccount(identity);
  noMatch(await w.exchange(identity.clientId, await w.serviceAccountToken(otherSa)), w.issuer, subjectOf(otherSa), TOKEN_EXCHANGE_AUDIENCE);
  noMatch(await w.exchange(identity.clientId, await w.serviceAccountToken(sa, { audience: "api://something-else" })), w.issuer, subjectOf(sa), "api://something-else");
  noMatch(await w.exchange(identity.clientId, defaultIssuerToken), "https://kubernetes.default.svc.cluster.local", subjectOf(defaultIssuerSa), TOKEN_EXCHANGE_AUDIENCE);

  const spaced = await w.identity();
  const spacedSa = await w.serviceAccount(spaced);
  await w.federate(spaced, `${subjectOf(spacedSa)} `);
  noMatch(await w.exchange(spaced.clientId, await w.serviceAccountToken(spacedSa)), w.issuer, subjectOf(spacedSa), TOKEN_EXCHANGE_AUDIENCE);

  const slashless = await w.identity();
  const slashlessSa = await w.serviceAccount(slashless);
  await w.federate(slashless, subjectOf(slashlessSa), { issuer: w.issuer.replace(/\/$/, "") });
  noMatch(await w.exchange(slashless.clientId, await w.serviceAccountToken(slashlessSa)), w.issuer, subjectOf(slashlessSa), TOKEN_EXCHANGE_AUDIENCE);

  // Another identity's credential matches this token; it is not this identity's.
  const bystander = await w.identity();
  noMatch(await w.exchange(bystander.clientId, good), w.issuer, subjectOf(sa), TOKEN_EXCHANGE_AUDIENCE);
  // The SDK surfaces Entra's words.
  await assert.rejects(w.assertionCredential(bystander.clientId, async () => good).getToken(w.armScope), /AADSTS70021: No matching federated identity record found/);
});

test("a credential reaches Entra ID after the federation delay (podid sandbox settings --federation-delay): AADSTS70021 until then", async () => {
  const set = await runPodid(["sandbox", "settings", "--federation-delay", "30", "--dir", w.sb.dir, "-o", "json"]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(JSON.parse(set.stdout).federationDelaySeconds, 30);
  try {
    const { identity, sa } = await federatedWorkload();
    const token = await w.serviceAccountToken(sa);
    noMatch(await w.exchange(identity.clientId, token), w.issuer, subjectOf(sa), TOKEN_EXCHANGE_AUDIENCE);
    await w.advanceClock(31);
    assert.equal((await w.exchange(identity.clientId, token)).status, 200);
  } finally {
    await w.settings({ federationDelaySeconds: 0 });
  }
});

test("rewriting a credential: the same value again or a new description leaves the exchange working; a changed subject reaches Entra ID after the delay, the old one working until then", async () => {
  await w.settings({ federationDelaySeconds: 30 });
  try {
    const identity = await w.identity();
    const sa = await w.serviceAccount(identity);
    const name = await w.federate(identity, subjectOf(sa));
    const file = w.tokenFile(await w.serviceAccountToken(sa));
    // A new credential each time: the SDK would otherwise answer from its token cache.
    const works = async (tokenFile: string) => decodeJwt((await w.workloadCredential(identity, tokenFile).getToken(w.armScope))!.token).oid === identity.principalId;
    await assert.rejects(works(file), /AADSTS70021/, "a new credential propagates first");
    await w.advanceClock(31);
    assert.ok(await works(file));

    await w.federate(identity, subjectOf(sa), { name });
    assert.ok(await works(file), "the same value written again (az identity federated-credential create, re-applied)");
    const { resourceGroup, subscriptionId, endpoints } = w.info;
    const arm = await w.clients.credential.getToken(w.armScope);
    const described = await rawRequest(
      `${endpoints.resourceManager}/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${identity.name}/federatedIdentityCredentials/${name}?api-version=2023-01-31`,
      { method: "PUT", headers: { authorization: `Bearer ${arm!.token}` }, body: JSON.stringify({ properties: { issuer: w.issuer, subject: subjectOf(sa), audiences: [TOKEN_EXCHANGE_AUDIENCE], description: "re-applied with a description" } }), ca: w.ca },
    );
    assert.equal(described.status, 200, described.text);
    assert.equal((await w.clients.msi.federatedIdentityCredentials.get(resourceGroup, identity.name, name)).subject, subjectOf(sa));
    assert.ok(await works(file), "a new description only");

    const next = await w.serviceAccount(identity);
    const nextFile = w.tokenFile(await w.serviceAccountToken(next));
    await w.federate(identity, subjectOf(next), { name });
    assert.equal((await w.clients.msi.federatedIdentityCredentials.get(resourceGroup, identity.name, name)).subject, subjectOf(next), "ARM has the new value at once");
    assert.ok(await works(file), "the old subject works while the change propagates");
    noMatch(await w.exchange(identity.clientId, readFileSync(nextFile, "utf8")), w.issuer, subjectOf(next), TOKEN_EXCHANGE_AUDIENCE);
    await w.advanceClock(31);
    assert.ok(await works(nextFile), "the new subject once propagated");
    noMatch(await w.exchange(identity.clientId, readFileSync(file, "utf8")), w.issuer, subjectOf(sa), TOKEN_EXCHANGE_AUDIENCE);
  } finally {
    await w.settings({ federationDelaySeconds: 0 });
  }
});

test("AADSTS90061 when the issuer's discovery document cannot be fetched, or names another issuer", async () => {
  const { identity, sa } = await federatedWorkload();
  const unreachable = "https://127.0.0.1:9/unreachable/";
  await w.federate(identity, "workload", { issuer: unreachable });
  const description = refused(await w.exchange(identity.clientId, await forged({ iss: unreachable, sub: "workload", aud: TOKEN_EXCHANGE_AUDIENCE })), 400, "invalid_request", 90061);
  assert.ok(description.includes("Request to External OIDC endpoint failed."), description);

  // The cluster's issuer without its trailing slash serves the same documents, which name the issuer with it.
  const slashless = w.issuer.replace(/\/$/, "");
  await w.federate(identity, subjectOf(sa), { issuer: slashless });
  refused(await w.exchange(identity.clientId, await forged({ iss: slashless, sub: subjectOf(sa), aud: TOKEN_EXCHANGE_AUDIENCE })), 400, "invalid_request", 90061);
});

test("AADSTS90061 while the cluster's issuer host fails (podid sandbox fault add --service oidc), and the exchange recovers once it answers again", async () => {
  const { identity, sa } = await federatedWorkload();
  const token = await w.serviceAccountToken(sa);
  const file = w.tokenFile(token);
  assert.equal((await w.exchange(identity.clientId, token)).status, 200);
  const fault = (...args: string[]) => runPodid(["sandbox", "fault", ...args, "--dir", w.sb.dir, "-o", "json"]);
  try {
    const added = await fault("add", "--service", "oidc", "--path", "*/.well-known/openid-configuration", "--status", "503");
    assert.equal(added.code, 0, added.stderr);
    const description = refused(await w.exchange(identity.clientId, token), 400, "invalid_request", 90061);
    assert.ok(description.includes("Request to External OIDC endpoint failed."), description);
    await assert.rejects(w.workloadCredential(identity, file).getToken(w.armScope), /AADSTS90061/);
    // The documents themselves answer with the fault, to anyone.
    const discovery = await rawRequest(`${w.issuer}.well-known/openid-configuration`, { ca: w.ca });
    assert.equal(discovery.status, 503);
    assert.equal((await fault("clear")).code, 0);
    assert.equal((await w.exchange(identity.clientId, token)).status, 200, "the issuer answers again");

    // A single dropped connection to the keys: that one exchange fails, the next succeeds.
    assert.equal((await fault("add", "--service", "oidc", "--path", "*/openid/v1/jwks", "--drop", "--count", "1")).code, 0);
    refused(await w.exchange(identity.clientId, token), 400, "invalid_request", 90061);
    assert.equal((await w.exchange(identity.clientId, token)).status, 200);
    assert.deepEqual(JSON.parse((await fault("list")).stdout), [], "the one-shot rule is used up");
  } finally {
    await fault("clear");
  }
});

test("forgeries: another key with the cluster's key id, an unknown key id, no signature, a wrong assertion type", async () => {
  const { identity, sa } = await federatedWorkload();
  const real = await w.serviceAccountToken(sa);
  const [header] = real.split(".");
  const kid = JSON.parse(Buffer.from(header, "base64url").toString()).kid as string;
  const claims = { iss: w.issuer, sub: subjectOf(sa), aud: [TOKEN_EXCHANGE_AUDIENCE] };
  const badSignature = refused(await w.exchange(identity.clientId, await forged(claims, { kid })), 401, "invalid_client", 50013);
  assert.ok(badSignature.includes("Assertion failed signature validation."), badSignature);
  const unknownKey = refused(await w.exchange(identity.clientId, await forged(claims, { kid: "not-a-published-key" })), 401, "invalid_client", 7000272);
  assert.ok(unknownKey.includes(`could not be found in the metadata of identity provider ${w.issuer}`), unknownKey);
  refused(await w.exchange(identity.clientId, await forged(claims, { alg: "none" })), 400, "invalid_request", 50027);
  const [h, p] = real.split(".");
  refused(await w.exchange(identity.clientId, `${h}.${p}.`), 400, "invalid_request", 50027);
  refused(await w.exchange(identity.clientId, "not-a-jwt"), 400, "invalid_request", 50027);
  refused(await w.exchange(identity.clientId, real, { assertionType: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer" }), 400, "invalid_request", 90011);
  refused(await w.exchange("00000000-0000-0000-0000-000000000000", real), 400, "unauthorized_client", 700016);
  // A key of its own, published nowhere, cannot stand in for the cluster's even with an exported public key in the header.
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = await exportJWK(publicKey);
  const embedded = await new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: "RS256", kid, jwk }).sign(privateKey);
  refused(await w.exchange(identity.clientId, embedded), 401, "invalid_client", 50013);

  // Entra ID's own token, even with a credential naming Entra ID as the issuer.
  const entraToken = (await w.clients.credential.getToken(w.armScope))!.token;
  const entraClaims = decodeJwt(entraToken) as { iss: string; sub: string; aud: string };
  await w.federate(identity, entraClaims.sub, { issuer: entraClaims.iss, audience: entraClaims.aud });
  const aad = refused(await w.exchange(identity.clientId, entraToken), 400, "invalid_request", 700222);
  assert.ok(aad.includes("AAD-issued tokens may not be used for federated identity flows."), aad);
});

test("AADSTS700024 for an assertion past its expiry on Entra ID's clock", async () => {
  const { identity, sa } = await federatedWorkload();
  const token = await w.serviceAccountToken(sa, { expirationSeconds: 600 });
  assert.equal((await w.exchange(identity.clientId, token)).status, 200);
  await w.advanceClock(601);
  const answer = await w.exchange(identity.clientId, token);
  const description = refused(answer, 401, "invalid_client", 700024);
  const { nbf, exp } = decodeJwt(token) as { nbf: number; exp: number };
  const at = (s: number) => new Date(s * 1000).toISOString().replace(/Z$/, "0000Z");
  assert.match(description, new RegExp(`^AADSTS700024: Client assertion is not within its valid time range\\. Current time: \\S+Z, assertion valid from ${at(nbf)}, expiry time of assertion ${at(exp)}\\.`));
  // One clock throughout the answer: Entra ID's (the sandbox's, now past the assertion's expiry), not the caller's.
  const current = Date.parse(/Current time: (\S+?)0000Z/.exec(description)![1] + "Z");
  const stamped = /Timestamp: (\S+ \S+Z)$/.exec(description)![1];
  const timestamp = (answer.json as { timestamp: string }).timestamp;
  assert.equal(timestamp, stamped);
  assert.ok(Math.abs(Date.parse(timestamp.replace(" ", "T")) - current) < 5_000, `${timestamp} is Entra ID's current time ${new Date(current).toISOString()}`);
  assert.ok(current >= exp * 1000, "the sandbox clock");
  await assert.rejects(w.assertionCredential(identity.clientId, async () => token).getToken(w.armScope), /AADSTS700024/);
});
