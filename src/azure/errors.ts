import { RestError } from "@azure/core-rest-pipeline";
import { AuthenticationError, CredentialUnavailableError } from "@azure/identity";
import { ArmCode, AzureCode, AzureError, NotFoundError, PodidError } from "../errors/index.js";
import { connectionFailure } from "../util/connection-errors.js";

/**
 * Azure failures classified by the service's error code, in one place. Commands never look at status codes or
 * message text themselves; they ask this module what a failure means.
 */

/** The built-in role that grants an action, for the remedy line of a permission error. */
const ROLE_FOR_ACTION: [RegExp, string][] = [
  [/^Microsoft\.ManagedIdentity\/userAssignedIdentities\/(\*\/)?assign\/action$/i, "Managed Identity Operator"],
  [/^Microsoft\.ManagedIdentity\//i, "Managed Identity Contributor"],
  [/^Microsoft\.Authorization\/roleAssignments\/(write|delete)$/i, "Role Based Access Control Administrator"],
  [/^Microsoft\.Compute\//i, "Virtual Machine Contributor"],
  [/\/read$/i, "Reader"],
];

export function roleForAction(action: string): string {
  return ROLE_FOR_ACTION.find(([re]) => re.test(action))?.[1] ?? "Contributor";
}

export interface AzureErrorInfo {
  /** ARM's `error.code`, or the HTTP status when the body had none. */
  code: string;
  statusCode?: number;
  message: string;
}

export function azureErrorInfo(err: unknown): AzureErrorInfo | undefined {
  if (err instanceof RestError || (err instanceof Error && (err as RestError).name === "RestError")) {
    const e = err as RestError;
    return { code: e.code ?? String(e.statusCode ?? "Unknown"), statusCode: e.statusCode, message: e.message };
  }
  return undefined;
}

/** One of the ARM codes podid tells apart, or undefined for any other. */
function armCode(code: string): ArmCode | undefined {
  return (Object.values(ArmCode) as string[]).includes(code) ? (code as ArmCode) : undefined;
}

/** A request that got no HTTP answer because the connection failed or broke: worth a retry (never an abort: that is a decision). */
export function isNetworkError(err: unknown): boolean {
  return connectionFailure(err)?.kind === "dropped";
}

/**
 * Conditions that go away on their own: worth a bounded retry (throttling, 5xx, replication, dropped connections,
 * another writer's federated credential write to the same identity).
 */
export function isTransient(err: unknown): boolean {
  if (isNetworkError(err)) return true;
  const info = azureErrorInfo(err);
  if (!info) return false;
  if (info.code === ArmCode.PrincipalNotFound || info.code === ArmCode.ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity) return true;
  return info.statusCode === 429 || (info.statusCode !== undefined && info.statusCode >= 500);
}

/** Whether an Azure SDK failure carries one of these ARM codes. */
export function hasCode(err: unknown, ...codes: ArmCode[]): boolean {
  const code = armCode(azureErrorInfo(err)?.code ?? "");
  return code !== undefined && codes.includes(code);
}

/** ARM's AuthorizationFailed and LinkedAuthorizationFailed messages name the client, the action and the scope. */
function permissionDetails(message: string): { client?: string; actions: string[]; scopes: string[] } {
  const client = /client '([^']+)'/.exec(message)?.[1];
  const actions = [...message.matchAll(/action(?:\(s\))? '([^']+)'/g)].map((m) => m[1]);
  const scopes = [...message.matchAll(/scope(?:\(s\))? '([^']+)'/g)].map((m) => m[1]);
  return { client, actions, scopes };
}

/** Turns an Azure SDK failure into podid's error, with the fix spelled out. */
export function fromAzureError(err: unknown, doing: string): PodidError {
  if (err instanceof PodidError) return err;
  if (err instanceof CredentialUnavailableError || err instanceof AuthenticationError) {
    return new AzureError(AzureCode.AzureCredentialUnavailable, `no Azure credential could sign in while ${doing}: ${firstLine(err.message)}`, {
      cause: err,
      remedy: "Sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (for the sandbox: eval \"$(podid sandbox env)\").",
    });
  }
  const info = azureErrorInfo(err);
  if (!info) {
    return new AzureError(AzureCode.AzureRequestFailed, `${doing} failed: ${firstLine(err instanceof Error ? err.message : String(err))}`, { cause: err });
  }
  const code = armCode(info.code);
  switch (code) {
    case ArmCode.AuthorizationFailed:
    case ArmCode.LinkedAuthorizationFailed: {
      const d = permissionDetails(info.message);
      const action = d.actions[d.actions.length - 1] ?? "the operation";
      const scope = d.scopes[d.scopes.length - 1] ?? "the resource";
      const role = roleForAction(action);
      return new AzureError(code, `${doing} was refused (${info.code}): principal ${d.client ?? "(unknown)"} may not perform '${action}' on '${scope}'`, {
        cause: err,
        details: { action, scope, role, principal: d.client },
        remedy: `Grant it, e.g.: az role assignment create --assignee-object-id ${d.client ?? "<principal-id>"} --assignee-principal-type ServicePrincipal --role "${role}" --scope ${scope}`,
      });
    }
    case ArmCode.ResourceGroupNotFound:
      return new NotFoundError(code, `${doing} failed: ${firstLine(info.message)}`, "Check -g/--resource-group and --subscription; list groups with `az group list -o table`.", { cause: err });
    case ArmCode.ResourceNotFound:
    case ArmCode.NotFound:
      return new NotFoundError(code, `${doing} failed: ${firstLine(info.message)}`, "Check the name, the resource group and --subscription.", { cause: err });
    case ArmCode.SubscriptionNotFound:
      return new NotFoundError(code, `${doing} failed: ${firstLine(info.message)}`, "Check --subscription or AZURE_SUBSCRIPTION_ID.", { cause: err });
    default:
      return new AzureError(code ?? AzureCode.AzureRequestFailed, `${doing} failed (${info.code}): ${firstLine(info.message)}`, {
        cause: err,
        ...(code ? {} : { details: { armCode: info.code } }),
        remedy: isTransient(err) ? "Azure is busy or replicating; run the same command again to finish the job." : "Run again with --debug for the HTTP trace.",
      });
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0].trim();
}

/** A throttled or unavailable ARM answer's Retry-After (seconds or an HTTP date), in milliseconds. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  if (!azureErrorInfo(err)) return undefined;
  const value = (err as RestError).response?.headers.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** An Azure SDK failure, or the one a PodidError wraps (its cause chain). */
function restErrorIn(err: unknown): AzureErrorInfo | undefined {
  for (let e = err, depth = 0; e !== undefined && depth < 5; e = e instanceof Error ? e.cause : undefined, depth++) {
    const info = azureErrorInfo(e);
    if (info) return info;
  }
  return undefined;
}

/** What a failed read or identity update of a scale set or VM comes down to; MIC reports each as a fact. */
export type ComputeFailure = "throttled" | "identity-limit" | "linked-authorization" | "authorization" | "identity-refused" | "other";

export function computeFailureOf(err: unknown): ComputeFailure {
  const info = restErrorIn(err);
  if (!info) return "other";
  if (info.statusCode === 429) return "throttled";
  switch (armCode(info.code)) {
    case ArmCode.LinkedAuthorizationFailed:
      return "linked-authorization";
    case ArmCode.AuthorizationFailed:
      return "authorization";
    case ArmCode.FailedIdentityOperation:
      // ARM answers its per-request limit and an identity it cannot use with this one code; the message tells which.
      return /exceed limit/i.test(info.message) ? "identity-limit" : "identity-refused";
    default:
      return "other";
  }
}

/** ARM's own words for a failure: `429 TooManyRequests`, `403 LinkedAuthorizationFailed` (empty for non-ARM failures). */
export function armStatusText(err: unknown): string {
  const info = restErrorIn(err);
  return info ? `${info.statusCode ?? ""} ${info.code}`.trim() : "";
}

/**
 * The user-assigned identity ids an identity PATCH was refused for (LinkedAuthorizationFailed, or
 * FailedIdentityOperation naming one that does not exist), so the valid ones can be retried without them.
 */
export function refusedIdentityIds(err: unknown): string[] {
  const info = azureErrorInfo(err);
  if (!info || !hasCode(err, ArmCode.LinkedAuthorizationFailed, ArmCode.FailedIdentityOperation)) return [];
  const ids = info.message.match(/\/subscriptions\/[^/'",\s]+\/resourcegroups\/[^/'",\s]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/'",\s]+/gi);
  return [...new Set((ids ?? []).map((id) => id.toLowerCase()))];
}
