import { test } from "node:test";
import assert from "node:assert/strict";
import { RestError, createHttpHeaders, createPipelineRequest } from "@azure/core-rest-pipeline";
import { ApiException } from "@kubernetes/client-node";
import { connectionFailure } from "../../src/util/connection-errors.js";
import {
  ArmCode,
  AzureCode,
  AzureError,
  CODE_FAMILIES,
  ExitCode,
  IdentityCode,
  KubernetesCode,
  KubernetesError,
  NotFoundError,
  PodidError,
  SandboxCode,
  SandboxError,
  UsageCode,
  UsageError,
  toPodidError,
} from "../../src/errors/index.js";
import { fromAzureError, hasCode, isNetworkError } from "../../src/azure/errors.js";
import { fromKubeError } from "../../src/kube/errors.js";

test("every code is spelled as its key and belongs to one family (ARM's codes are the Azure family's)", () => {
  const owner = new Map<string, string>();
  for (const [family, codes] of Object.entries(CODE_FAMILIES)) {
    for (const [key, value] of Object.entries(codes)) {
      assert.equal(value, key, `${family}.${key}`);
      assert.equal(owner.get(value), undefined, `${value} is in ${owner.get(value)} and ${family}`);
      owner.set(value, family);
    }
  }
  for (const code of Object.values(ArmCode)) assert.equal(owner.get(code), "azure", code);
});

test("family classes carry their exit code; toJSON shows what a user may see and only names the cause", () => {
  assert.equal(new UsageError("bad").exitCode, ExitCode.usage);
  assert.equal(new UsageError("bad").code, UsageCode.UsageError);
  assert.equal(new NotFoundError(IdentityCode.BindingNotFound, "gone").exitCode, ExitCode.notFound);
  const sandbox = new SandboxError(SandboxCode.SandboxNotRunning, "no sandbox", { remedy: "start it" });
  assert.equal(sandbox.exitCode, ExitCode.error);
  assert.equal(sandbox.name, "SandboxError");
  assert.ok(sandbox instanceof PodidError);
  assert.ok(sandbox instanceof SandboxError);
  assert.equal((sandbox as PodidError) instanceof AzureError, false);

  const cause = Object.assign(new Error("HTTP 500"), { request: { headers: { authorization: "Bearer secret" } } });
  const err = new AzureError(AzureCode.AzureRequestFailed, "reading x failed", { remedy: "retry", details: { armCode: "Weird" }, cause });
  const json = JSON.parse(JSON.stringify(err)) as Record<string, unknown>;
  assert.deepEqual(json, {
    name: "AzureError",
    code: "AzureRequestFailed",
    message: "reading x failed",
    exitCode: 1,
    remedy: "retry",
    details: { armCode: "Weird" },
    cause: { name: "Error", message: "HTTP 500" },
  });
  assert.doesNotMatch(JSON.stringify(err), /secret/);

  const wrapped = toPodidError(new TypeError("boom"));
  assert.equal(wrapped.code, "Unexpected");
  assert.equal(toPodidError(err), err);
});

test("ARM failures keep the ARM codes podid tells apart; any other becomes AzureRequestFailed naming ARM's code", () => {
  const failure = (code: string, status: number, message: string) =>
    new RestError(message, { code, statusCode: status, response: { status, headers: createHttpHeaders(), request: createPipelineRequest({ url: "https://arm" }) } });
  const refused = fromAzureError(failure("AuthorizationFailed", 403, "The client 'c1' with object id 'c1' does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' over scope '/subscriptions/s' or the scope is invalid."), "updating x");
  assert.ok(refused instanceof AzureError);
  assert.equal(refused.code, ArmCode.AuthorizationFailed);
  assert.equal(refused.details?.role, "Virtual Machine Contributor");

  const missing = fromAzureError(failure("ResourceGroupNotFound", 404, "Resource group 'g' could not be found."), "reading g");
  assert.ok(missing instanceof NotFoundError);
  assert.equal(missing.code, ArmCode.ResourceGroupNotFound);
  assert.equal(missing.exitCode, ExitCode.notFound);

  const other = fromAzureError(failure("InvalidRequestContent", 400, "The request content was invalid."), "creating x");
  assert.equal(other.code, AzureCode.AzureRequestFailed);
  assert.equal(other.message, "creating x failed (InvalidRequestContent): The request content was invalid.");
  assert.deepEqual(other.details, { armCode: "InvalidRequestContent" });

  assert.ok(hasCode(failure("RoleAssignmentExists", 409, "exists"), ArmCode.RoleAssignmentExists));
  assert.ok(!hasCode(failure("InvalidRequestContent", 400, "x"), ArmCode.RoleAssignmentExists));
});

test("Kubernetes failures get one code per Status reason; a reason Kubernetes does not define is KubernetesError", () => {
  const status = (code: number, reason: string | undefined) => new ApiException(code, "failed", { kind: "Status", code, reason, message: `${reason} happened` }, {});
  const notFound = fromKubeError(status(404, "NotFound"), "reading x");
  assert.ok(notFound instanceof NotFoundError);
  assert.equal(notFound.code, KubernetesCode.KubernetesNotFound);
  assert.equal(notFound.message, "reading x failed: NotFound happened");
  const exists = fromKubeError(status(409, "AlreadyExists"), "creating x");
  assert.ok(exists instanceof KubernetesError);
  assert.equal(exists.code, KubernetesCode.KubernetesAlreadyExists);
  assert.equal(fromKubeError(status(418, "Teapot"), "x").code, KubernetesCode.KubernetesError);
  assert.equal(fromKubeError(status(500, undefined), "x").code, KubernetesCode.KubernetesError);
  assert.equal(fromKubeError(new Error("socket hang up"), "x").code, KubernetesCode.KubernetesRequestFailed);
  // What client-node says when discovery finds no such kind (no CRD): told apart from other failures without a Status.
  assert.equal(fromKubeError(new Error("Unrecognized API version and kind: aadpodidentity.k8s.io/v1 AzureIdentity"), "x").code, KubernetesCode.KubernetesKindNotServed);
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  assert.equal(fromKubeError(refused, "x", "https://127.0.0.1:6443").code, KubernetesCode.ClusterUnreachable);
});

test("connection failures: one classification for the Azure and the Kubernetes side", () => {
  const failed = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
  for (const code of ["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "UND_ERR_SOCKET"]) {
    assert.equal(connectionFailure(failed(code))?.kind, "dropped", code);
    assert.equal(isNetworkError(new RestError(`x ${code}`, { code })), true, `Azure retries ${code}`);
    assert.equal(fromKubeError(failed(code), "x").code, KubernetesCode.ClusterUnreachable, `the cluster is unreachable on ${code}`);
  }
  for (const [code, kind] of [["ENOTFOUND", "unresolved"], ["SELF_SIGNED_CERT_IN_CHAIN", "untrusted"], ["CERT_HAS_EXPIRED", "untrusted"]] as const) {
    assert.equal(connectionFailure(failed(code))?.kind, kind, code);
    assert.equal(isNetworkError(new RestError(`x ${code}`, { code })), false, `Azure does not retry ${code}`);
    assert.equal(fromKubeError(failed(code), "x").code, KubernetesCode.ClusterUnreachable, `the cluster is unreachable on ${code}`);
  }
  assert.equal(connectionFailure(new Error("outer", { cause: failed("EPIPE") }))?.code, "EPIPE", "found along the causes");
  assert.equal(connectionFailure(new RestError("answered", { code: "ECONNRESET", statusCode: 502 })), undefined, "an HTTP answer is no connection failure");
  assert.equal(connectionFailure(Object.assign(new Error("aborted"), { name: "AbortError", code: "ECONNRESET" })), undefined, "an abort is a decision");
});
