import { test } from "node:test";
import assert from "node:assert/strict";
import { RestError } from "@azure/core-rest-pipeline";
import { armStatusText, computeFailureOf, fromAzureError, isNetworkError, isTransient } from "../../src/azure/errors.js";
import { isCancellation, NotLeaderError } from "../../src/util/cancel.js";

const answered = (status: number, code: string) => new RestError(`${status} ${code}`, { statusCode: status, code });
const unanswered = (code: string, message = "socket hang up") => new RestError(message, { code });

test("a failed connection is transient like throttling and 5xx; answered refusals are not", () => {
  for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "REQUEST_SEND_ERROR"]) {
    assert.equal(isNetworkError(unanswered(code)), true, code);
    assert.equal(isTransient(unanswered(code)), true, code);
  }
  assert.equal(isTransient(answered(429, "TooManyRequests")), true);
  assert.equal(isTransient(answered(503, "ServiceUnavailable")), true);
  assert.equal(isTransient(answered(400, "PrincipalNotFound")), true);
  assert.equal(isTransient(answered(403, "AuthorizationFailed")), false);
  assert.equal(isTransient(answered(404, "ResourceNotFound")), false);
  // Wrapped by podid's own error (cause chain), a dropped connection is still recognised.
  assert.equal(isTransient(fromAzureError(unanswered("ECONNRESET"), "reading x")), true);
  assert.equal(isNetworkError(new Error("socket hang up")), false, "no code, no guess from the message");
});

test("an abort is a decision, never a transient failure; fencing counts as cancellation", () => {
  const abort = Object.assign(new Error("The operation was aborted."), { name: "AbortError", code: "ECONNRESET" });
  assert.equal(isTransient(abort), false);
  assert.equal(isCancellation(abort), true);
  assert.equal(isCancellation(new Error("x", { cause: new NotLeaderError("mic-a") })), true);
  assert.equal(isCancellation(unanswered("ECONNRESET")), false);
  const controller = new AbortController();
  controller.abort();
  assert.equal(isCancellation(controller.signal.reason), true);
});

test("a scale set's refusals classified by ARM's code, through podid's wrapping too: MIC reports each as a fact", () => {
  const refused = (status: number, code: string, message: string) => new RestError(message, { statusCode: status, code });
  assert.equal(computeFailureOf(answered(429, "TooManyRequests")), "throttled");
  assert.equal(computeFailureOf(refused(403, "LinkedAuthorizationFailed", "may not assign")), "linked-authorization");
  assert.equal(computeFailureOf(fromAzureError(refused(403, "AuthorizationFailed", "may not write"), "reading x")), "authorization");
  assert.equal(computeFailureOf(refused(400, "FailedIdentityOperation", "User Assigned Identities Number '151' Assign exceed limit '150' in one request.")), "identity-limit");
  assert.equal(computeFailureOf(refused(400, "FailedIdentityOperation", "Resource '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x' was not found.")), "identity-refused");
  assert.equal(computeFailureOf(answered(500, "InternalServerError")), "other");
  assert.equal(computeFailureOf(new Error("no answer at all")), "other");
  assert.equal(armStatusText(answered(429, "TooManyRequests")), "429 TooManyRequests");
  assert.equal(armStatusText(unanswered("ECONNRESET")), "ECONNRESET");
});
