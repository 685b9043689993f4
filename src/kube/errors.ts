import { ApiException } from "@kubernetes/client-node";
import { KubernetesCode, KubernetesError, NotFoundError, PodidError } from "../errors/index.js";
import { connectionFailure } from "../util/connection-errors.js";

/** A Kubernetes `Status` body, as the API server sends it with every failure. */
export interface KubeStatus {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { field?: string; message?: string }[] };
}

export function kubeStatus(err: unknown): KubeStatus | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const body: unknown = err.body;
  if (typeof body === "string") {
    try {
      return JSON.parse(body) as KubeStatus;
    } catch {
      return { code: err.code, message: body };
    }
  }
  return (body as KubeStatus) ?? { code: err.code };
}

/** The fields an Invalid (422) refusal names in its causes; empty for any other failure. */
export function invalidFields(err: unknown): string[] {
  const status = kubeStatus(err instanceof PodidError ? err.cause : err);
  return status?.reason === "Invalid" ? (status.details?.causes ?? []).flatMap((c) => (c.field ? [c.field] : [])) : [];
}

export function isKubeNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

export function isKubeConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

/** podid's code for each reason a Kubernetes Status gives (k8s.io/apimachinery/pkg/apis/meta/v1 StatusReason). */
const CODE_OF_REASON = new Map<string, KubernetesCode>([
  ["Unauthorized", KubernetesCode.KubernetesUnauthorized],
  ["Forbidden", KubernetesCode.KubernetesForbidden],
  ["NotFound", KubernetesCode.KubernetesNotFound],
  ["AlreadyExists", KubernetesCode.KubernetesAlreadyExists],
  ["Conflict", KubernetesCode.KubernetesConflict],
  ["Gone", KubernetesCode.KubernetesGone],
  ["Invalid", KubernetesCode.KubernetesInvalid],
  ["ServerTimeout", KubernetesCode.KubernetesServerTimeout],
  ["Timeout", KubernetesCode.KubernetesTimeout],
  ["TooManyRequests", KubernetesCode.KubernetesTooManyRequests],
  ["BadRequest", KubernetesCode.KubernetesBadRequest],
  ["MethodNotAllowed", KubernetesCode.KubernetesMethodNotAllowed],
  ["NotAcceptable", KubernetesCode.KubernetesNotAcceptable],
  ["RequestEntityTooLarge", KubernetesCode.KubernetesRequestEntityTooLarge],
  ["UnsupportedMediaType", KubernetesCode.KubernetesUnsupportedMediaType],
  ["InternalError", KubernetesCode.KubernetesInternalError],
  ["Expired", KubernetesCode.KubernetesExpired],
  ["ServiceUnavailable", KubernetesCode.KubernetesServiceUnavailable],
]);

/** Turns a client-node failure into podid's error, by the Status reason the API server gave. */
export function fromKubeError(err: unknown, doing: string, server?: string): PodidError {
  if (err instanceof PodidError) return err;
  const net = connectionFailure(err)?.code;
  if (net) {
    return new KubernetesError(KubernetesCode.ClusterUnreachable, `cannot reach the Kubernetes API${server ? ` at ${server}` : ""} while ${doing} (${net})`, {
      cause: err,
      remedy: "Check --kubeconfig / --context (or KUBECONFIG); for the sandbox, run podid sandbox start and eval \"$(podid sandbox env)\".",
    });
  }
  const status = kubeStatus(err);
  if (!status) {
    // client-node's own words when discovery finds no such kind (a custom resource whose CRD is not installed).
    const notServed = err instanceof Error && err.message.startsWith("Unrecognized API version and kind");
    return new KubernetesError(notServed ? KubernetesCode.KubernetesKindNotServed : KubernetesCode.KubernetesRequestFailed, `${doing} failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`, { cause: err });
  }
  const message = `${doing} failed: ${status.message ?? status.reason ?? `HTTP ${status.code}`}`;
  const code = CODE_OF_REASON.get(status.reason ?? "") ?? KubernetesCode.KubernetesError;
  switch (code) {
    case KubernetesCode.KubernetesNotFound:
      return new NotFoundError(code, message, "Check the name and --namespace.", { cause: err });
    case KubernetesCode.KubernetesForbidden:
      return new KubernetesError(code, message, {
        cause: err,
        remedy: "Your kubeconfig user lacks that permission; use a context with the rights, or ask a cluster admin for a Role/ClusterRole binding.",
      });
    case KubernetesCode.KubernetesUnauthorized:
      return new KubernetesError(code, message, { cause: err, remedy: "Your kubeconfig credentials were refused; refresh them (az aks get-credentials)." });
    case KubernetesCode.KubernetesInvalid:
      return new KubernetesError(code, message, { cause: err, remedy: "Fix the value the API server names above." });
    case KubernetesCode.KubernetesConflict:
      return new KubernetesError(code, message, {
        cause: err,
        remedy: "Another field manager owns these fields; re-run to retry, or change them with that tool.",
      });
    default:
      return new KubernetesError(code, message, { cause: err, remedy: "Run again with --debug for details." });
  }
}
