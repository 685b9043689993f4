import { ApiException } from "@kubernetes/client-node";
import { NotFoundError, PodidError } from "../cli/errors.js";

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

export function isKubeNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

export function isKubeConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "ECONNRESET", "CERT_HAS_EXPIRED", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN"]);

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    if (e === (e as { cause?: unknown }).cause) break;
  }
  return undefined;
}

/** Turns a client-node failure into podid's error, by the Status reason the API server gave. */
export function fromKubeError(err: unknown, doing: string, server?: string): PodidError {
  if (err instanceof PodidError) return err;
  const net = networkCode(err);
  if (net) {
    return new PodidError("ClusterUnreachable", `cannot reach the Kubernetes API${server ? ` at ${server}` : ""} while ${doing} (${net})`, {
      cause: err,
      remedy: "Check --kubeconfig / --context (or KUBECONFIG); for the sandbox, run podid sandbox start and eval \"$(podid sandbox env)\".",
    });
  }
  const status = kubeStatus(err);
  if (!status) {
    return new PodidError("KubernetesRequestFailed", `${doing} failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`, { cause: err });
  }
  const message = `${doing} failed: ${status.message ?? status.reason ?? `HTTP ${status.code}`}`;
  switch (status.reason) {
    case "NotFound":
      return new NotFoundError("KubernetesNotFound", message, "Check the name and -n/--namespace.");
    case "Forbidden":
      return new PodidError("KubernetesForbidden", message, {
        cause: err,
        remedy: "Your kubeconfig user lacks that permission; use a context with the rights, or ask a cluster admin for a Role/ClusterRole binding.",
      });
    case "Unauthorized":
      return new PodidError("KubernetesUnauthorized", message, { cause: err, remedy: "Your kubeconfig credentials were refused; refresh them (az aks get-credentials)." });
    case "Invalid":
      return new PodidError("KubernetesInvalid", message, { cause: err, remedy: "Fix the value the API server names above." });
    case "Conflict":
      return new PodidError("KubernetesConflict", message, {
        cause: err,
        remedy: "Another field manager owns these fields; re-run to retry, or change them with that tool.",
      });
    default:
      return new PodidError(`Kubernetes${status.reason ?? "Error"}`, message, { cause: err, remedy: "Run again with --debug for details." });
  }
}
