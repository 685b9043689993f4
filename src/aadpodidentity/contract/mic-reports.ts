/**
 * What MIC reports about its work as facts: Event reasons on AzureAssignedIdentities and metric labels. Doctor
 * reads the Events by reason (never MIC's log text); a Prometheus user filters on the same words.
 */

/** Why an identity is not (yet) on a scale set or VM, or not (yet) off it. */
export const ScaleSetTrouble = {
  /** ARM answered 429: MIC waits for Retry-After and retries on its own. */
  Throttled: "AzureThrottled",
  /** ARM refused more user-assigned identities than it takes in one request (150). */
  IdentityLimit: "IdentityLimitExceeded",
  /** The kubelet identity may write the scale set but may not assign the identity (Managed Identity Operator missing). */
  LinkedAuthorization: "LinkedAuthorizationFailed",
  /** The kubelet identity may not write the scale set (Virtual Machine Contributor missing). */
  Authorization: "AuthorizationFailed",
  /** ARM refused this identity: it does not exist, or is not usable (FailedIdentityOperation naming it). */
  IdentityRefused: "IdentityRefused",
  /** Anything else: the scale set could not be read or written. */
  Failed: "ScaleSetUpdateFailed",
} as const;
export type ScaleSetTrouble = (typeof ScaleSetTrouble)[keyof typeof ScaleSetTrouble];

const AZURE_BUSY = "Azure is busy";
/** MIC's words (log and Event message) while it waits out a transient ARM failure, e.g. `429 TooManyRequests`. */
export function azureBusyMessage(input: { doing: string; status: string; attempt: number; delayMs: number }): string {
  return `${input.doing}: ${AZURE_BUSY} (${input.status ? `${input.status}, ` : ""}attempt ${input.attempt}); retrying in ${Math.round(input.delayMs)} ms`;
}
export const AZURE_BUSY_SEARCH = AZURE_BUSY;

/** The Event type MIC records trouble with. */
export const TROUBLE_EVENT_TYPE = "Warning";

/** Counts each trouble, by ARM operation (upstream's names: vmss_get, vmss_update, vm_get, vm_update) and reason. */
export const CLOUD_PROVIDER_ERRORS_METRIC = "aadpodidentity_cloud_provider_operations_errors_count";
export type CloudOperation = "vmss_get" | "vmss_update" | "vm_get" | "vm_update";
