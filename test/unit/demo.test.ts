import { test } from "node:test";
import assert from "node:assert/strict";
import { demoPod, labelledPodOk, unlabelledPodRefused, type DemoInput } from "../../src/core/demo.js";
import { shellWord } from "../../src/util/shell.js";
import { demoResultLine, type DemoResult } from "../../src/aadpodidentity/contract/demo-result.js";
import { msiEndpoint, oneLine, tokenClientId } from "../../src/runtime/demo/main.js";

/** A pod's log: some words (any words: they are for people), then the round's result line, time-stamped as the pod writes it. */
const logOf = (words: string, result: DemoResult) => `2025-01-01T00:00:00Z ${words}\n2025-01-01T00:00:01Z ${demoResultLine(result)}\n`;
const MSI = "managed identity" as const;
const ok = logOf("successfully acquired a token using the MSI, msiEndpoint(http://h/metadata/identity/oauth2/token) clientID(c)", { path: MSI, token: true, clientId: "c", arm: true, vmCount: 2, scaleSetCount: 1 });
const tokenOnly = logOf("successfully acquired a token", { path: MSI, token: true, clientId: "c", arm: false });
const refused = logOf("failed to acquire a token using the MSI: ManagedIdentityCredential: Network unreachable. (the endpoint answered 404: no azure identity found for request)", { path: MSI, token: false, arm: false, endpointStatus: 404 });
const unreachable = logOf("failed to acquire a token using the MSI: ManagedIdentityCredential: Network unreachable.", { path: MSI, token: false, arm: false });

test("the labelled pod passes only when it ended well and its result line says token and listing", () => {
  assert.equal(labelledPodOk("Succeeded", ok, "c"), true);
  assert.equal(labelledPodOk("Succeeded", ok, "other"), false, "a token for another identity is not the demo's");
  assert.equal(labelledPodOk("Failed", ok, "c"), false);
  assert.equal(labelledPodOk("Succeeded", tokenOnly, "c"), false, "a token alone is not enough");
  assert.equal(labelledPodOk("Succeeded", refused, "c"), false);
  assert.equal(labelledPodOk("Succeeded", "x successfully acquired a token clientID(c)\nx successfully doARMOperations vm count 2\n", "c"), false, "words without a result line prove nothing");
  assert.equal(labelledPodOk("Succeeded", logOf("tout va bien", { path: MSI, token: true, clientId: "C", arm: true }), "c"), true, "the words may change; the result line decides");
});

test("the unlabelled pod passes only when its result line says NMI refused it and it got no token", () => {
  assert.equal(unlabelledPodRefused("Failed", refused), true);
  assert.equal(unlabelledPodRefused("Succeeded", refused), false);
  assert.equal(unlabelledPodRefused("Failed", ok), false);
  assert.equal(unlabelledPodRefused("Failed", "x crashed\n"), false, "a crash is not a refusal");
  assert.equal(unlabelledPodRefused("Failed", unreachable), false, "an unreachable endpoint is not NMI's refusal");
});

test("the demo pods: the demo image, run once, with and without the selector label", () => {
  const input = { target: { subscriptionId: "s", resourceGroup: "g", clusterName: "c", nodeResourceGroup: "MC_g" }, image: "ghcr.io/podid/podid-demo:1.0.0" } as DemoInput;
  const labelled = demoPod("p", input, "cid", true);
  assert.equal(labelled.metadata?.labels?.aadpodidbinding, "demo");
  assert.equal(labelled.spec?.restartPolicy, "Never");
  assert.deepEqual(labelled.spec?.containers[0].args, ["--once", "--subscription-id", "s", "--resource-group", "MC_g", "--client-id", "cid"]);
  assert.equal(labelled.spec?.containers[0].image, "ghcr.io/podid/podid-demo:1.0.0");
  assert.equal(demoPod("q", input, "cid", false).metadata?.labels?.aadpodidbinding, undefined);
});

test("command lines are printed as a shell would take them", () => {
  assert.equal(shellWord("/subscriptions/x/resourceGroups/MC_a"), "/subscriptions/x/resourceGroups/MC_a");
  assert.equal(shellWord("a b"), "'a b'");
  assert.equal(shellWord("it's"), `'it'\\''s'`);
});

test("runtime demo: the endpoint it reports, one-line reasons, the client id from a token without printing it", () => {
  assert.equal(msiEndpoint({}), "http://169.254.169.254/metadata/identity/oauth2/token");
  assert.equal(msiEndpoint({ AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:5000/" }), "http://127.0.0.1:5000/metadata/identity/oauth2/token");
  assert.equal(oneLine(new Error("a\n  b\n")), "a b");
  const jwt = `e30.${Buffer.from(JSON.stringify({ appid: "abc" })).toString("base64url")}.sig`;
  assert.equal(tokenClientId(jwt), "abc");
  assert.equal(tokenClientId("not a jwt"), undefined);
});
