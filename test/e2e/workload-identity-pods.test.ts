import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { PACKAGE_VERSION } from "../../src/util/package-info.js";
import { DEMO_IMAGE } from "../../src/render/install.js";
import { runPodid } from "../helpers/cli.js";
import { eventually } from "../helpers/eventually.js";
import { answerText, TOKEN_EXCHANGE_AUDIENCE, WorkloadIdentitySandbox, type EntraErrorBody, type Identity } from "../helpers/workload-identity.js";

/**
 * Pods on the sandbox's nodes on the workload identity path, with no NMI anywhere: the webhook's injection, the
 * kubelet's projected token (rotated before 80% of its life), `podid runtime demo` getting its token from the
 * federated token file and using it on ARM, and the proxy sidecar answering an unmodified IMDS client in the pod.
 */

let w: WorkloadIdentitySandbox;
before(async () => {
  w = await WorkloadIdentitySandbox.start();
  await w.enableWorkloadIdentity();
});
after(async () => w?.stop());

const IMAGE = `${DEMO_IMAGE}:${PACKAGE_VERSION}`;

async function workload(): Promise<{ identity: Identity; sa: string }> {
  const identity = await w.identity({ readerOnNodeGroup: true });
  const sa = await w.serviceAccount(identity);
  await w.federate(identity, `system:serviceaccount:default:${sa}`);
  return { identity, sa };
}

function demoPod(name: string, sa: string, options: { args?: string[]; annotations?: Record<string, string>; restartPolicy?: string } = {}): V1Pod {
  return {
    metadata: { name, labels: { "azure.workload.identity/use": "true" }, annotations: options.annotations },
    spec: {
      serviceAccountName: sa,
      restartPolicy: options.restartPolicy ?? "Never",
      containers: [{ name: "demo", image: IMAGE, args: options.args ?? ["--once", "--subscription-id", w.info.subscriptionId, "--resource-group", w.info.nodeResourceGroup] }],
    },
  };
}

const readPod = (name: string) => w.core.readNamespacedPod({ namespace: "default", name });
const logs = (pod: string, container: string) => w.core.readNamespacedPodLog({ namespace: "default", name: pod, container });
const noToken = (text: string) => assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ[\w-]+/, "no token is printed");

test("a demo pod gets its token through workload identity alone (no NMI on its node) and uses it on ARM", async () => {
  const nmi = await w.core.listNamespacedPod({ namespace: "kube-system", labelSelector: "app.kubernetes.io/component=nmi" });
  assert.equal(nmi.items.length, 0, "nothing of pod identity is installed");
  const { identity, sa } = await workload();
  await w.core.createNamespacedPod({ namespace: "default", body: demoPod("wi-demo", sa) });
  const done = await eventually("the demo pod ends", async () => { const p = await readPod("wi-demo"); return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : false; }, { timeoutMs: 90_000 });
  const log = await logs("wi-demo", "demo");
  assert.equal(done.status?.phase, "Succeeded", log);
  assert.match(log, /getting tokens through workload identity\n/);
  assert.match(log, new RegExp(`successfully acquired a token using workload identity, tokenFile\\([^)]+azure-identity-token\\) clientID\\(${identity.clientId}\\)`));
  assert.match(log, new RegExp(`successfully doARMOperations vm count ${w.info.nodes.length}\\b`));
  noToken(log);
  // `kubectl logs`, as a user would look.
  const shown = await runPodid(["sandbox", "logs", "wi-demo", "--dir", w.sb.dir]);
  assert.match(shown.stdout, /successfully acquired a token using workload identity/);
});

test("the proxy sidecar answers an unmodified IMDS client in the pod with the pod's federated token, and passes other metadata through", async () => {
  const { identity, sa } = await workload();
  const pod = demoPod("wi-proxy", sa, {
    // The demo container keeps the plain managed identity client: it only knows 169.254.169.254.
    annotations: { "azure.workload.identity/inject-proxy-sidecar": "true", "azure.workload.identity/skip-containers": "demo" },
    restartPolicy: "OnFailure",
    args: ["--once", "--subscription-id", w.info.subscriptionId, "--resource-group", w.info.nodeResourceGroup, "--client-id", identity.clientId],
  });
  await w.core.createNamespacedPod({ namespace: "default", body: pod });
  const done = await eventually("the demo container ends", async () => { const p = await readPod("wi-proxy"); return p.status?.containerStatuses?.find((c) => c.name === "demo")?.state?.terminated !== undefined ? p : false; }, { timeoutMs: 90_000 });
  const log = await logs("wi-proxy", "demo");
  assert.equal(done.status?.containerStatuses?.find((c) => c.name === "demo")?.state?.terminated?.exitCode, 0, log);
  const podIP = done.status!.podIP!;
  assert.match(log, /getting tokens through managed identity\n/);
  assert.ok(log.includes(`successfully acquired a token using the MSI, msiEndpoint(http://${podIP}:8000/metadata/identity/oauth2/token) clientID(${identity.clientId})`), log);
  assert.match(log, /successfully doARMOperations vm count \d+/);
  assert.equal(done.status?.initContainerStatuses?.[0].state?.terminated?.reason, "Completed");
  const proxyLog = await logs("wi-proxy", "azwi-proxy");
  assert.match(proxyLog, /successfully acquired token/);
  noToken(log + proxyLog);

  // The same endpoint, asked directly from the pod's address (as another container of the pod would): IMDS's shape,
  // with the identity's token.
  const get = (path: string, headers: Record<string, string> = { Metadata: "true" }, localAddress = podIP) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: podIP, port: 8000, path, headers, localAddress }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
        .on("error", reject)
        .end();
    });
  const resource = encodeURIComponent(w.info.endpoints.activeDirectoryResourceId);
  const answer = await get(`/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}`);
  assert.equal(answer.status, 200, answer.status === 200 ? "" : answer.body);
  const token = JSON.parse(answer.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(token).sort(), ["access_token", "expires_in", "expires_on", "not_before", "refresh_token", "resource", "token_type"]);
  assert.equal(token.token_type, "Bearer");
  assert.equal(typeof token.expires_in, "number");
  const claims = JSON.parse(Buffer.from(String(token.access_token).split(".")[1], "base64url").toString()) as { appid: string };
  assert.equal(claims.appid, identity.clientId, "AZURE_CLIENT_ID when the request names none");
  assert.deepEqual(await get("/METADATA/identity/oauth2/token?api-version=2018-02-01"), { status: 400, body: "The resource parameter is required.\n" });
  const instance = await get("/metadata/instance?api-version=2021-02-01");
  assert.equal(instance.status, 200, instance.body);
  assert.equal((JSON.parse(instance.body) as { compute: { name: string } }).compute.name.startsWith("aks-nodepool1-"), true, "the node's IMDS answered");

  // The proxy listens on the pod's localhost: from any other address there is nothing to talk to.
  await assert.rejects(get(`/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}`, { Metadata: "true" }, "127.0.0.1"), /ECONNRESET|socket hang up/);
  // Another pod whose metadata endpoint is set to this pod's proxy gets nothing from it.
  const thief = demoPod("wi-proxy-thief", sa, { args: ["--once", "--subscription-id", w.info.subscriptionId, "--resource-group", w.info.nodeResourceGroup, "--client-id", identity.clientId] });
  delete thief.metadata!.labels;
  thief.spec!.containers[0].env = [{ name: "AZURE_POD_IDENTITY_AUTHORITY_HOST", value: `http://${podIP}:8000` }];
  await w.core.createNamespacedPod({ namespace: "default", body: thief });
  const stolen = await eventually("the other pod ends", async () => { const p = await readPod("wi-proxy-thief"); return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : false; }, { timeoutMs: 90_000 });
  const thiefLog = await logs("wi-proxy-thief", "demo");
  assert.equal(stolen.status?.phase, "Failed", thiefLog);
  assert.notEqual(stolen.status?.podIP, podIP);
  assert.match(thiefLog, new RegExp(`failed to acquire a token using the MSI, msiEndpoint\\(http://${podIP.replace(/\./g, "\\.")}:8000/metadata/identity/oauth2/token\\) clientID\\(${identity.clientId}\\)`));
  assert.doesNotMatch(thiefLog, /successfully acquired a token/);
  const requests = (text: string) => text.match(/received token request/g)?.length ?? 0;
  assert.equal(requests(await logs("wi-proxy", "azwi-proxy")), requests(proxyLog) + 2, "only the requests from the pod's address reached the proxy");
  noToken(thiefLog);
});

test("the kubelet rotates the projected token before 80% of its life: the expired one is refused, the rotated one accepted", async () => {
  const { identity, sa } = await workload();
  await w.core.createNamespacedPod({ namespace: "default", body: demoPod("wi-rotate", sa, { restartPolicy: "Always", args: ["--subscription-id", w.info.subscriptionId, "--resource-group", w.info.nodeResourceGroup, "--interval", "1h"] }) });
  const pod = await eventually("the pod runs", async () => { const p = await readPod("wi-rotate"); return p.status?.phase === "Running" ? p : false; }, { timeoutMs: 60_000 });
  const file = join(w.sb.dir, "pods", `default_wi-rotate_${pod.metadata!.uid}`, "volumes", "azure-identity-token", "azure-identity-token");
  await eventually("the projected token is written", () => existsSync(file) && readFileSync(file, "utf8").length > 0, { timeoutMs: 60_000 });
  const first = readFileSync(file, "utf8");
  // Compared by digest: a failing assertion must not print a token.
  const digest = (token: string) => createHash("sha256").update(token).digest("hex");
  const claims = JSON.parse(Buffer.from(first.split(".")[1], "base64url").toString()) as Record<string, any>;
  assert.deepEqual(claims.aud, [TOKEN_EXCHANGE_AUDIENCE]);
  assert.equal(claims.exp - claims.iat, 3600, "the webhook's default expiration");
  assert.deepEqual(claims["kubernetes.io"].pod, { name: "wi-rotate", uid: pod.metadata!.uid }, "bound to the pod");

  const advanced = await runPodid(["sandbox", "clock", "--advance", "2000", "--dir", w.sb.dir, "-o", "json"]);
  assert.equal(advanced.code, 0, advanced.stderr);
  assert.equal(JSON.parse(advanced.stdout).offsetSeconds, 2000);
  assert.equal(digest(readFileSync(file, "utf8")), digest(first), "not rotated at 55% of its life");
  await w.advanceClock(900); // 2900 s: past 80% of 3600
  await eventually("the kubelet rotates the token", () => digest(readFileSync(file, "utf8")) !== digest(first), { timeoutMs: 30_000 });
  const rotated = readFileSync(file, "utf8");
  await w.advanceClock(800); // 3700 s: the first token has expired, the rotated one has not
  const expired = await w.exchange(identity.clientId, first);
  assert.equal(expired.status, 401, answerText(expired));
  assert.deepEqual((expired.json as EntraErrorBody).error_codes, [700024]);
  const fresh = await w.exchange(identity.clientId, rotated);
  assert.equal(fresh.status, 200, answerText(fresh));
});
