import type { Logger } from "../../util/logger.js";
import type { NmiMetrics } from "./metrics.js";
import { redactClientId } from "../../aadpodidentity/contract/messages.js";
import { queryParam, type CanonicalRequest } from "./canonical-request.js";

/**
 * What NMI did with a request: issued a token it fetched for the pod's own identity, passed an exempt pod's token
 * request through to the node's IMDS, forwarded an IMDS request that serves no token, or refused.
 */
export type Outcome = "issued" | "passed-through" | "forwarded" | "refused";

export interface Decision {
  outcome: Outcome;
  /** A short, fixed word (bounded label values): why. */
  reason: string;
  status: number;
  /** The caller's address (TCP source), "" when unknown. */
  source: string;
  /** namespace/name of the pod with that address, when known. */
  pod?: string;
  /** The identity asked for, already redacted (see requestedIdentity). */
  identity?: string;
  /** The canonical path, when the request could be read. */
  path?: string;
}

/** The identities a request names, redacted as client ids are in every NMI message; "none" when it names none. */
export function requestedIdentity(request: Pick<CanonicalRequest, "query">): string {
  const named: string[] = [];
  const clientId = queryParam(request, "client_id");
  if (clientId) named.push(`client_id ${redactClientId(clientId)}`);
  for (const key of ["msi_res_id", "mi_res_id"]) {
    const resourceId = queryParam(request, key);
    if (resourceId) named.push(`${key} .../${resourceId.split("/").filter(Boolean).pop() ?? ""}`);
  }
  const objectId = queryParam(request, "object_id");
  if (objectId) named.push(`object_id ${redactClientId(objectId)}`);
  return named.length ? named.join(", ") : "none";
}

/**
 * Every decision on the record: token decisions and refusals at info level (one line each), forwards of IMDS
 * paths that serve no token at verbose (they are routine, e.g. scheduled-events polling); each counted in
 * aadpodidentity_nmi_decisions_count{outcome,reason}. The line is written before the answer is sent.
 */
export class DecisionLog {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: NmiMetrics,
  ) {}

  record(d: Decision): void {
    this.metrics.decisions.inc({ outcome: d.outcome, reason: d.reason });
    const line =
      `decision: ${d.outcome} (${d.reason}) status=${d.status} source=${d.source || "unknown"} pod=${d.pod ?? "unknown"}` +
      (d.identity !== undefined ? ` identity=${JSON.stringify(d.identity)}` : "") +
      (d.path !== undefined ? ` path=${d.path}` : "");
    if (d.outcome === "forwarded") this.logger.verbose(line);
    else this.logger.info(line);
  }
}
