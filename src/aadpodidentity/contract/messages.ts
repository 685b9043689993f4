import { BINDING_LABEL } from "../types.js";
import { NMI_FLAG_DEFAULTS } from "./names.js";

/**
 * The words MIC and NMI say that users (and doctor's `errors`, which users search their logs for) depend on: built
 * here, so that what doctor quotes is what the components say. Components never read each other's words: facts
 * travel as Events with reasons and as metrics (mic-reports.ts).
 */

/** /healthz: upstream's bodies. */
export const healthText = (active: boolean): string => (active ? "Active" : "Not Active");
export const NOT_ACTIVE = healthText(false);

/** Upstream's redaction of client ids in messages: first 4 and last 4 characters. */
export function redactClientId(clientId: string): string {
  return clientId.length <= 8 ? "#####" : `${clientId.slice(0, 4)}##### REDACTED #####${clientId.slice(-4)}`;
}

export type WaitState = "CREATED" | "ASSIGNED";

const CHECK_MIC = "Check MIC pod logs for identity assignment errors";
const failedAfter = (attempts: number) => `failed after ${attempts} attempts`;

/** NMI gave up waiting for MIC: no AzureAssignedIdentity in that state after so many intervals (upstream's words). */
export function notAssignedMessage(input: { prefix: string; pod: { namespace: string; name: string }; state: WaitState; attempts: number; intervalSec: number }): string {
  return `${input.prefix}getting assigned identities for pod ${input.pod.namespace}/${input.pod.name} in ${input.state} state ${failedAfter(input.attempts)}, retry duration [${input.intervalSec}]s, error: <nil>. ${CHECK_MIC}`;
}

/** What to search NMI's answers and logs for when no identity came, at NMI's default attempts. */
export const NOT_ASSIGNED_SEARCH: readonly string[] = [
  failedAfter(NMI_FLAG_DEFAULTS.retryAttemptsForCreated),
  failedAfter(NMI_FLAG_DEFAULTS.retryAttemptsForCreated + NMI_FLAG_DEFAULTS.retryAttemptsForAssigned),
  CHECK_MIC,
];

/** The state an assignment was still missing in, as notAssignedMessage names it (for doctor's probe). */
export const notAssignedIn = (state: WaitState): string => `in ${state} state failed`;

const NO_LABEL = `has no ${BINDING_LABEL} label`;
/** NMI's answer at once for a pod no binding can select: no identity will come (upstream waits out every attempt). */
export const noBindingLabelMessage = (prefix: string, pod: { namespace: string; name: string }): string =>
  `${prefix}pod ${pod.namespace}/${pod.name} ${NO_LABEL}, so no AzureIdentityBinding selects it and no identity will be assigned to it. Label it with a binding's selector`;
export const NO_BINDING_LABEL_SEARCH = NO_LABEL;

/** NMI's answer when the caller went away while it waited (Go's context error, as upstream says it). */
export const CONTEXT_CANCELED = "context canceled";

/** NMI's answer to a caller off the node on /host/token/. */
export const HOST_NOT_ALLOWED = "request remote address is not from a host";
/** NMI's answer when no pod of its node has the caller's address. */
export const POD_LIST_EMPTY = "pod list is empty";
/** NMI's answer when the pod's identities are all namespaced elsewhere, or none matches what was asked. */
export const NO_IDENTITY_FOR_REQUEST = "no azure identity found for request";
/** NMI could not get a token for an identity (IMDS or Entra refused). */
export const TOKEN_FAILED = "failed to get service principal token";

/** NMI's line for a token request of an exempt pod. */
export const exceptionPodLine = (pod: { namespace: string; name: string }): string => `exception pod ${pod.namespace}/${pod.name} token handling`;

/** NMI's log when it may not install its iptables redirect (kept running), and when keeping it fails. */
export const IPTABLES_NOT_INSTALLED = "not installing the iptables redirect";
export const IPTABLES_FAILED = "iptables: ";

/** NMI's refusal on a kubenet node (upstream's words, with the page it links). */
export const KUBENET_REFUSAL =
  "AAD Pod Identity is not supported for Kubenet. Review https://azure.github.io/aad-pod-identity/docs/configure/aad_pod_identity_on_kubenet/ for more details.";
export const KUBENET_SEARCH = "AAD Pod Identity is not supported for Kubenet";

/** Why MIC leaves a pod or binding out (its Skipped reasons, which doctor repeats). */
export const noBindingForSelector = (selector: string): string => `no AzureIdentityBinding matches selector ${selector}`;
export const identityNotFound = (namespacedName: string): string => `identity ${namespacedName} not found`;

const IN_TWO_NAMESPACES = "exists in both";
const RENAME_OR_NAMESPACE = "Consider renaming it or enabling namespaced mode";
/** Two namespaces' identities of one name reach one pod outside namespaced mode: MIC uses the first (upstream's words). */
export function identityInTwoNamespaces(input: { name: string; used: string; other: string; pod: string }): string {
  return `AzureIdentity ${input.name} ${IN_TWO_NAMESPACES} ${input.used} and ${input.other} namespace; ${input.used}'s is used for pod ${input.pod}. ${RENAME_OR_NAMESPACE}`;
}
export const IDENTITY_IN_TWO_NAMESPACES_SEARCH: readonly string[] = [IN_TWO_NAMESPACES, RENAME_OR_NAMESPACE];
