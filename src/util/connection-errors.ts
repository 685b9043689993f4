/**
 * Failures of the connection itself, before any HTTP answer, for every client podid has (ARM and Entra through the
 * Azure SDK, the Kubernetes API through client-node and the lean client): Node's socket and name-lookup codes,
 * undici's and core-rest-pipeline's own, and TLS's. One table, so that the Azure and Kubernetes sides call the same
 * failure the same thing.
 */

/** dropped: the connection failed or broke (may go away on its own); unresolved: the name does not exist; untrusted: TLS refused the server. */
export type ConnectionFailureKind = "dropped" | "unresolved" | "untrusted";

const KINDS: Record<string, ConnectionFailureKind> = {
  ECONNRESET: "dropped",
  ECONNREFUSED: "dropped",
  ECONNABORTED: "dropped",
  EPIPE: "dropped",
  ETIMEDOUT: "dropped",
  ESOCKETTIMEDOUT: "dropped",
  EHOSTUNREACH: "dropped",
  ENETUNREACH: "dropped",
  ENETDOWN: "dropped",
  EAI_AGAIN: "dropped",
  UND_ERR_SOCKET: "dropped",
  UND_ERR_CONNECT_TIMEOUT: "dropped",
  REQUEST_SEND_ERROR: "dropped",
  ENOTFOUND: "unresolved",
  CERT_HAS_EXPIRED: "untrusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "untrusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "untrusted",
  SELF_SIGNED_CERT_IN_CHAIN: "untrusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "untrusted",
};

export interface ConnectionFailure {
  /** The code as the failing layer gave it, e.g. ECONNREFUSED. */
  code: string;
  kind: ConnectionFailureKind;
}

/**
 * The connection failure behind `err` (searched along its causes), or undefined: an error that carries an HTTP
 * status got an answer, and an abort is a decision, not a failure.
 */
export function connectionFailure(err: unknown): ConnectionFailure | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e.name === "AbortError") return undefined;
    const { code, statusCode } = e as { code?: unknown; statusCode?: unknown };
    if (typeof code === "string" && Object.hasOwn(KINDS, code) && statusCode === undefined) return { code, kind: KINDS[code] };
  }
  return undefined;
}
