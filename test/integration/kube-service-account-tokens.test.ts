import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { CoreV1Api, type AuthenticationV1TokenRequest } from "@kubernetes/client-node";
import { SandboxClock } from "../../src/sandbox/clock.js";
import { kubeRequest, rejected, startKubeFixture, uniqueName, type KubeFixture } from "../helpers/kube-api.js";
import { rawRequest } from "../helpers/raw-http.js";
import { trustCa } from "../helpers/trust-ca.js";

/**
 * Service-account tokens as kube-apiserver issues and checks them: TokenRequest gives a signed JWT with the
 * audiences, lifetime and binding asked for (at least 10 minutes), the API server publishes its issuer's discovery
 * document and keys, a token authenticates only while it is valid, meant for the API server, and what it names
 * still exists, and the OIDC issuer, once set, is what new tokens carry while older ones stay accepted.
 */

const clock = new SandboxClock();
let issuer: string | undefined;
let f: KubeFixture;
let core: CoreV1Api;

before(async () => {
  f = await startKubeFixture({ now: () => clock.now(), oidcIssuer: () => issuer });
  trustCa(f.options.caCertPem);
  core = f.kc.makeApiClient(CoreV1Api);
});
after(async () => f?.stop());

async function serviceAccount(): Promise<string> {
  const name = uniqueName("sa");
  await core.createNamespacedServiceAccount({ namespace: "default", body: { metadata: { name } } });
  return name;
}

const requestToken = (name: string, spec: AuthenticationV1TokenRequest["spec"]) => core.createNamespacedServiceAccountToken({ namespace: "default", name, body: { spec } });
/** Whether the API server takes the token (a fresh connection each time: the server restarts in one test). */
const authenticates = async (token: string) =>
  (await rawRequest(new URL("/version", f.api.url), { headers: { authorization: `Bearer ${token}`, connection: "close" }, ca: f.options.caCertPem })).status === 200;

test("TokenRequest: a signed JWT for the audiences and lifetime asked, with kube-apiserver's claims; defaults to the API server's audience and an hour", async () => {
  const name = await serviceAccount();
  const sa = await core.readNamespacedServiceAccount({ namespace: "default", name });
  const answer = await requestToken(name, { audiences: ["api://AzureADTokenExchange"], expirationSeconds: 1200 });
  assert.deepEqual(answer.spec.audiences, ["api://AzureADTokenExchange"]);
  assert.equal(answer.spec.expirationSeconds, 1200);
  const token = answer.status!.token;
  const claims = decodeJwt(token) as Record<string, any>;
  assert.equal(decodeProtectedHeader(token).alg, "RS256");
  assert.equal(claims.iss, "https://kubernetes.default.svc.cluster.local");
  assert.equal(claims.sub, `system:serviceaccount:default:${name}`);
  assert.deepEqual(claims.aud, ["api://AzureADTokenExchange"]);
  assert.equal(claims.exp - claims.iat, 1200);
  assert.equal(claims.nbf, claims.iat);
  assert.deepEqual(claims["kubernetes.io"], { namespace: "default", serviceaccount: { name, uid: sa.metadata!.uid } });
  assert.equal(new Date(answer.status!.expirationTimestamp!).getTime(), claims.exp * 1000);

  const plain = await requestToken(name, {} as AuthenticationV1TokenRequest["spec"]);
  assert.deepEqual(plain.spec.audiences, ["https://kubernetes.default.svc.cluster.local"]);
  assert.equal(plain.spec.expirationSeconds, 3600);
  assert.ok(await authenticates(plain.status!.token), "a token for the API server's audience authenticates");
  assert.ok(!(await authenticates(token)), "a token for Entra ID's exchange does not authenticate to the API server");
});

test("TokenRequest refuses less than 10 minutes, a binding to a missing or different object, and a pod of another ServiceAccount", async () => {
  const name = await serviceAccount();
  const short = await rejected(requestToken(name, { expirationSeconds: 599 } as AuthenticationV1TokenRequest["spec"]));
  assert.equal(short.code, 422);
  assert.equal(short.message, `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes`);
  const missing = await rejected(requestToken(name, { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "nope" } } as AuthenticationV1TokenRequest["spec"]));
  assert.equal(missing.code, 404);
  assert.equal((await rejected(requestToken(name, { boundObjectRef: { kind: "ConfigMap", apiVersion: "v1", name: "x" } } as AuthenticationV1TokenRequest["spec"]))).code, 400);
  const pod = await core.createNamespacedPod({ namespace: "default", body: { metadata: { name: uniqueName("p") }, spec: { containers: [{ name: "c", image: "nginx" }] } } });
  const other = await rejected(requestToken(name, { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: pod.metadata!.name! } } as AuthenticationV1TokenRequest["spec"]));
  assert.equal(other.code, 400);
  assert.match(other.message ?? "", /to pod running with different serviceaccount name/);
  const stale = await rejected(core.createNamespacedServiceAccountToken({ namespace: "default", name: "default", body: { spec: { audiences: [], boundObjectRef: { kind: "Pod", apiVersion: "v1", name: pod.metadata!.name!, uid: "00000000-0000-0000-0000-000000000000" } } } }));
  assert.equal(stale.code, 409);
  assert.equal((await rejected(requestToken("no-such-sa", {} as AuthenticationV1TokenRequest["spec"]))).code, 404);
});

test("tokens really expire (on the server's clock), and die with their ServiceAccount or bound pod", async () => {
  const name = await serviceAccount();
  const token = (await requestToken(name, { audiences: [], expirationSeconds: 600 })).status!.token;
  assert.ok(await authenticates(token));
  clock.advance(600 + 61); // past exp and the authenticator's one-minute leeway
  assert.ok(!(await authenticates(token)), "expired");

  const podName = uniqueName("bound");
  await core.createNamespacedPod({ namespace: "default", body: { metadata: { name: podName }, spec: { serviceAccountName: name, containers: [{ name: "c", image: "nginx" }] } } });
  const bound = (await requestToken(name, { audiences: [], boundObjectRef: { kind: "Pod", apiVersion: "v1", name: podName } } as AuthenticationV1TokenRequest["spec"])).status!.token;
  assert.equal((decodeJwt(bound) as any)["kubernetes.io"].pod.name, podName);
  assert.ok(await authenticates(bound));
  await core.deleteNamespacedPod({ namespace: "default", name: podName });
  assert.ok(!(await authenticates(bound)), "the bound pod is gone");

  const unbound = (await requestToken(name, { audiences: [] } as unknown as AuthenticationV1TokenRequest["spec"])).status!.token;
  await core.deleteNamespacedServiceAccount({ namespace: "default", name });
  await core.createNamespacedServiceAccount({ namespace: "default", body: { metadata: { name } } });
  assert.ok(!(await authenticates(unbound)), "a re-created ServiceAccount (new uid) does not inherit its predecessor's tokens");
});

test("issuer discovery: the API server serves its OpenID configuration and keys to ServiceAccounts, and the keys verify its tokens", async () => {
  const name = await serviceAccount();
  const token = (await requestToken(name, { audiences: [] } as unknown as AuthenticationV1TokenRequest["spec"])).status!.token;
  const discovery = await kubeRequest(f, "GET", "/.well-known/openid-configuration", { token });
  assert.equal(discovery.status, 200, discovery.text);
  assert.deepEqual(discovery.json, {
    issuer: "https://kubernetes.default.svc.cluster.local",
    jwks_uri: `${f.api.url}/openid/v1/jwks`,
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
  });
  const jwks = await kubeRequest(f, "GET", "/openid/v1/jwks", { token });
  assert.equal(jwks.status, 200);
  assert.equal(jwks.headers["content-type"], "application/jwk-set+json");
  assert.deepEqual(Object.keys(jwks.json.keys[0]).sort(), ["alg", "e", "kid", "kty", "n", "use"]);
  assert.equal((await kubeRequest(f, "GET", "/openid/v1/jwks", { token: "" })).status, 401);
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(discovery.json.jwks_uri), { headers: { authorization: `Bearer ${token}` } }), {
    issuer: discovery.json.issuer,
    currentDate: new Date(clock.now()),
  });
  assert.equal(payload.sub, `system:serviceaccount:default:${name}`);
});

test("with the cluster's OIDC issuer set, new tokens carry it and tokens of the default issuer still authenticate; the key survives a restart", async () => {
  const name = await serviceAccount();
  const before = (await requestToken(name, { audiences: [] } as unknown as AuthenticationV1TokenRequest["spec"])).status!.token;
  issuer = "https://127.0.0.1:1/tenant/0b1c2d3e-0000-4000-8000-000000000000/";
  try {
    const after = (await requestToken(name, { audiences: [] } as unknown as AuthenticationV1TokenRequest["spec"])).status!.token;
    assert.equal(decodeJwt(after).iss, issuer);
    const discovery = await kubeRequest(f, "GET", "/.well-known/openid-configuration");
    assert.equal(discovery.json.issuer, issuer);
    assert.equal(discovery.json.jwks_uri, `${issuer}openid/v1/jwks`);
    assert.ok(await authenticates(after));
    assert.ok(await authenticates(before), "the earlier issuer stays accepted, as on AKS");
    await f.restart();
    assert.ok(await authenticates(after), "tokens stay valid across a restart: the signing key is kept");
  } finally {
    issuer = undefined;
  }
});

test("kubectl create token --audience --duration gets such a token; less than 10 minutes is refused", async () => {
  const name = await serviceAccount();
  const run = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile("kubectl", ["--kubeconfig", f.api.kubeconfigPath, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })),
    );
  const ok = await run("create", "token", name, "--audience", "api://AzureADTokenExchange", "--duration", "15m");
  assert.equal(ok.code, 0, ok.stderr);
  const claims = decodeJwt(ok.stdout.trim()) as Record<string, any>;
  assert.deepEqual(claims.aud, ["api://AzureADTokenExchange"]);
  assert.equal(claims.exp - claims.iat, 900);
  const short = await run("create", "token", name, "--duration", "5m");
  assert.notEqual(short.code, 0);
  assert.match(short.stderr, /may not specify a duration less than 10 minutes/);
});
