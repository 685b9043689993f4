import {
  IdentityType,
  type AadPodIdentityKind,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from "./types.js";

/**
 * The spec fields as MIC, NMI and doctor read them. Releases before 1.6 wrote `ResourceID`, `ClientID`, `Selector`,
 * ...; upstream reads those spellings too (Go decodes JSON field names case-insensitively) wherever the API server
 * kept them — CRDs made before 1.6 have no schema and prune nothing, a v1 CRD with a schema prunes them. This table
 * is the one list of them: the readers below and doctor's field-casing check both go by it.
 */
export const LEGACY_FIELDS = {
  AzureIdentity: { Type: "type", ResourceID: "resourceID", ClientID: "clientID", ClientPassword: "clientPassword", TenantID: "tenantID", ADResourceID: "adResourceID", ADEndpoint: "adEndpoint" },
  AzureIdentityBinding: { AzureIdentity: "azureIdentity", Selector: "selector", Weight: "weight" },
  AzurePodIdentityException: { PodLabels: "podLabels" },
} as const satisfies Partial<Record<AadPodIdentityKind, Record<string, string>>>;

export type LegacyKind = keyof typeof LEGACY_FIELDS;

/** One v1 field's value: its v1 spelling when set, else its old one. */
function field(kind: LegacyKind, spec: Record<string, unknown> | undefined, v1: string): unknown {
  if (spec?.[v1] !== undefined && spec[v1] !== null) return spec[v1];
  const old = Object.entries(LEGACY_FIELDS[kind]).find(([, name]) => name === v1)?.[0];
  return old === undefined ? undefined : spec?.[old];
}

const text = (v: unknown): string => (typeof v === "string" ? v.trim() : "");

/** An AzureIdentity's spec, every field read in either spelling; strings trimmed, "" when absent. */
export interface IdentitySpec {
  type: number;
  resourceID: string;
  clientID: string;
  clientPassword?: { name: string; namespace: string };
  tenantID: string;
  adEndpoint: string;
  adResourceID: string;
}

export function identitySpec(identity: Pick<AzureIdentity, "spec">): IdentitySpec {
  const spec = identity.spec as unknown as Record<string, unknown> | undefined;
  const read = (v1: string) => field("AzureIdentity", spec, v1);
  const type = read("type");
  const password = read("clientPassword") as { name?: unknown; namespace?: unknown } | undefined;
  return {
    // Anything but 0, 1 or 2 is kept as written, for invalidIdentityReason to name.
    type: (type ?? IdentityType.userAssignedMSI) as number,
    resourceID: text(read("resourceID")),
    clientID: text(read("clientID")),
    ...(password && typeof password === "object" ? { clientPassword: { name: text(password.name), namespace: text(password.namespace) } } : {}),
    tenantID: text(read("tenantID")),
    adEndpoint: text(read("adEndpoint")),
    adResourceID: text(read("adResourceID")),
  };
}

export interface BindingSpec {
  azureIdentity: string;
  selector: string;
  weight?: number;
}

export function bindingSpec(binding: Pick<AzureIdentityBinding, "spec">): BindingSpec {
  const spec = binding.spec as unknown as Record<string, unknown> | undefined;
  const weight = field("AzureIdentityBinding", spec, "weight");
  return {
    azureIdentity: text(field("AzureIdentityBinding", spec, "azureIdentity")),
    selector: text(field("AzureIdentityBinding", spec, "selector")),
    ...(typeof weight === "number" ? { weight } : {}),
  };
}

/** An exception's podLabels (values as strings). */
export function exceptionPodLabels(exception: Pick<AzurePodIdentityException, "spec">): Record<string, string> {
  const labels = field("AzurePodIdentityException", exception.spec as unknown as Record<string, unknown> | undefined, "podLabels");
  return labels && typeof labels === "object" ? Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)])) : {};
}

/** Upstream's check (unanchored, case-insensitive): a type-0 identity must name a user-assigned identity. */
const USER_ASSIGNED_ID = /\/subscriptions\/.+?\/resourcegroups\/.+?\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/.+/i;

/** Why an AzureIdentity cannot be used, or undefined when it can. */
export function invalidIdentityReason(identity: Pick<AzureIdentity, "spec">): string | undefined {
  const { type, resourceID } = identitySpec(identity);
  if (!Object.values<number>(IdentityType).includes(type)) return `unsupported identity type ${String(type)}`;
  if (type === IdentityType.userAssignedMSI && !USER_ASSIGNED_ID.test(resourceID)) {
    return `invalid resource id: "${resourceID}", must match /subscriptions/<subid>/resourcegroups/<resourcegroup>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`;
  }
  return undefined;
}
