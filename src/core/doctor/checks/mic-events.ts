import { ScaleSetTrouble, TROUBLE_EVENT_TYPE } from "../../../aadpodidentity/contract/mic-reports.js";
import type { AzureAssignedIdentity } from "../../../aadpodidentity/types.js";
import { armCodes, eventTime, type KubeEvent } from "./runtime-pods.js";

/** Upstream MIC's reasons: the trouble is named only by ARM's code inside the message. */
const UPSTREAM_REASONS = new Set(["binding apply error", "binding remove error"]);
const TROUBLES = new Set<string>(Object.values(ScaleSetTrouble));

/**
 * The trouble a Warning Event of MIC's reports. podid's MIC gives it as the Event's reason; upstream's MIC (installed
 * with --runtime upstream) says "binding apply error" and names ARM's error code in the message, read from there.
 */
export function troubleOf(e: KubeEvent): ScaleSetTrouble | undefined {
  if (e.type !== TROUBLE_EVENT_TYPE) return undefined;
  if (TROUBLES.has(e.reason ?? "")) return e.reason as ScaleSetTrouble;
  if (!UPSTREAM_REASONS.has(e.reason ?? "")) return undefined;
  const message = e.message ?? "";
  const codes = armCodes(message);
  if (codes.includes("LinkedAuthorizationFailed")) return ScaleSetTrouble.LinkedAuthorization;
  if (codes.includes("AuthorizationFailed")) return ScaleSetTrouble.Authorization;
  if (codes.includes("TooManyRequests") || /\b429\b/.test(message)) return ScaleSetTrouble.Throttled;
  if (codes.includes("FailedIdentityOperation")) return /exceed limit/i.test(message) ? ScaleSetTrouble.IdentityLimit : ScaleSetTrouble.IdentityRefused;
  return ScaleSetTrouble.Failed;
}

const key = (o: { namespace?: string; name?: string }) => `${o.namespace ?? "default"}/${o.name}`;

/** The newest Warning Event MIC recorded on each of these AzureAssignedIdentities (by namespace/name). */
export function latestMicWarnings(events: readonly KubeEvent[], aais: readonly AzureAssignedIdentity[]): Map<string, KubeEvent> {
  const wanted = new Set(aais.map((a) => key(a.metadata)));
  const latest = new Map<string, KubeEvent>();
  for (const e of events) {
    if (e.type !== TROUBLE_EVENT_TYPE || e.involvedObject?.kind !== "AzureAssignedIdentity") continue;
    const k = key(e.involvedObject);
    if (!wanted.has(k)) continue;
    const prev = latest.get(k);
    if (!prev || eventTime(e) >= eventTime(prev)) latest.set(k, e);
  }
  return latest;
}
