import { setTimeout as sleep } from "node:timers/promises";
import { DROP_CONNECTION, json, type Handler, type SandboxResponse } from "../http/types.js";
import { ArmErrors } from "./arm-errors.js";
import type { CloudContext } from "./context.js";
import { entraErrors } from "./entra-errors.js";
import type { FaultRule, FaultService } from "./model.js";

function globRegex(glob: string): RegExp {
  return new RegExp(`^${glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");
}

export function ruleMatches(rule: FaultRule, service: FaultService, method: string, path: string): boolean {
  return (rule.service === "*" || rule.service === service) && (rule.method === "*" || rule.method.toUpperCase() === method) && globRegex(rule.path).test(path);
}

/** The error each service really answers with when it throttles or fails. */
function faultResponse(service: FaultService, status: number, retryAfter: number | undefined, now: () => number): SandboxResponse {
  const headers: Record<string, string> = retryAfter !== undefined ? { "retry-after": String(retryAfter) } : {};
  if (service === "arm") {
    const base = status === 429 ? ArmErrors.tooManyRequests(retryAfter ?? 1) : ArmErrors.serverError(status);
    return { ...base, headers: { ...base.headers, ...headers } };
  }
  if (service === "entra") {
    const errors = entraErrors(now);
    const base = status === 429 ? errors.requestLoop() : errors.temporarilyUnavailable(status);
    return { ...base, headers: { ...base.headers, ...headers } };
  }
  if (service === "oidc") return { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers }, body: OIDC_HOST_ERRORS[status] ?? OIDC_HOST_ERRORS[500] };
  return json(status, status === 429 ? { error: "too_many_requests", error_description: "Too many requests" } : { error: "unknown", error_description: "IMDS is temporarily unavailable" }, headers);
}

/** The issuer host is a storage-backed static site: its failures in Azure Storage's words, plain text like its 404. */
const OIDC_HOST_ERRORS: Record<number, string> = {
  429: "The server is currently unable to receive requests. Please retry your request.",
  500: "The server encountered an internal error. Please retry the request.",
  502: "Bad Gateway",
  503: "The server is currently unable to receive requests. Please retry your request.",
  504: "The operation could not be completed within the permitted time.",
};

/**
 * Applies the sandbox's fault rules in front of a service: added latency and/or a throttling or server error or a
 * dropped connection,
 * for a number of matching requests or until cleared. Rules live in the persisted state.
 */
export function withFaults(service: FaultService, ctx: CloudContext, inner: Handler): Handler {
  return async (req) => {
    const rules = ctx.store.data.faults;
    const rule = rules.find((r) => ruleMatches(r, service, req.method, req.path) && (r.count === undefined || r.count > 0));
    if (!rule) return inner(req);
    if (rule.count !== undefined) {
      rule.count -= 1;
      if (rule.count <= 0) ctx.store.data.faults = rules.filter((r) => r !== rule);
      ctx.store.changed();
    }
    if (rule.latencyMs) await sleep(rule.latencyMs);
    ctx.log(`fault ${rule.id} on ${service} ${req.method} ${req.path}${rule.drop ? " -> connection dropped" : rule.status ? ` -> ${rule.status}` : ""}`);
    if (rule.drop) return DROP_CONNECTION;
    return rule.status ? faultResponse(service, rule.status, rule.retryAfterSeconds, () => ctx.now()) : inner(req);
  };
}
