import {
  IdentityType,
  type AadPodIdentityKind,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from "./types.js";

/**
 * The spec fields as MIC, NMI and doctor read them, in any spelling. Releases before 1.6 wrote the Go field names
 * (`ResourceID`, `ClientID`, `Selector`, ...). CRDs made before 1.6 have no schema and keep them; a v1 CRD with a
 * schema prunes them. Upstream's MIC reads such objects with Go's encoding/json (its one-time type upgrade, which
 * rewrites them in v1 spelling), which matches a key to a field ignoring case and takes the keys in the order the
 * API server sends them — sorted, since a custom resource is a JSON map — so the last key wins, except that a
 * `null` leaves the field as it was. Every pre-1.6 name starts upper-case and sorts before its v1 name: where
 * both are present the v1 value is the one read, even when it is "". fieldSpelling() is that rule, and doctor's
 * field-casing check asks it which spelling is read.
 */
export const SPEC_FIELDS = {
  AzureIdentity: ["type", "resourceID", "clientID", "clientPassword", "tenantID", "adResourceID", "adEndpoint"],
  AzureIdentityBinding: ["azureIdentity", "selector", "weight"],
  AzurePodIdentityException: ["podLabels"],
} as const satisfies Partial<Record<AadPodIdentityKind, readonly string[]>>;

export type SpelledKind = keyof typeof SPEC_FIELDS;

/** How one v1 field is spelled in a spec: every key that names it (any case), and the one whose value is read. */
export interface FieldSpelling {
  v1: string;
  /** The keys naming the field, in the order they are decoded (sorted). */
  keys: string[];
  /** The key whose value is read; undefined when none has a value (absent, or every one null). */
  read?: string;
}

/** Go's encoding/json matches ASCII letters ignoring case. */
const fold = (key: string): string => key.replace(/[A-Z]/g, (c) => c.toLowerCase());

export function fieldSpelling(spec: Record<string, unknown> | undefined, v1: string): FieldSpelling {
  const keys = Object.keys(spec ?? {})
    .filter((k) => fold(k) === fold(v1))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const read = [...keys].reverse().find((k) => spec![k] !== null && spec![k] !== undefined);
  return { v1, keys, ...(read !== undefined ? { read } : {}) };
}

/** Every field of a kind's spec that is spelled some way, v1 or not. */
export function fieldSpellings(kind: SpelledKind, spec: Record<string, unknown> | undefined): FieldSpelling[] {
  return SPEC_FIELDS[kind].map((v1) => fieldSpelling(spec, v1)).filter((f) => f.keys.length > 0);
}

/** One v1 field's value, from whichever spelling is read (each spec is read once: see memoized). */
function field(spec: Record<string, unknown> | undefined, v1: string): unknown {
  const read = fieldSpelling(spec, v1).read;
  return read === undefined ? undefined : spec![read];
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

/**
 * Specs read once per spec object: objects from the API server are values here (a change arrives as a new object,
 * nothing edits one in place), and NMI reads the same few on every token request. The results are frozen.
 */
function memoized<S extends object>(read: (spec: Record<string, unknown> | undefined) => S): (spec: Record<string, unknown> | undefined) => Readonly<S> {
  const known = new WeakMap<object, Readonly<S>>();
  return (spec) => {
    if (!spec || typeof spec !== "object") return read(spec);
    let value = known.get(spec);
    if (!value) known.set(spec, (value = Object.freeze(read(spec))));
    return value;
  };
}

export function identitySpec(identity: Pick<AzureIdentity, "spec">): Readonly<IdentitySpec> {
  return readIdentitySpec(identity.spec as unknown as Record<string, unknown> | undefined);
}

const readIdentitySpec = memoized((spec): IdentitySpec => {
  const read = (v1: string) => field(spec, v1);
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
});

export interface BindingSpec {
  azureIdentity: string;
  selector: string;
  weight?: number;
}

export function bindingSpec(binding: Pick<AzureIdentityBinding, "spec">): Readonly<BindingSpec> {
  return readBindingSpec(binding.spec as unknown as Record<string, unknown> | undefined);
}

const readBindingSpec = memoized((spec): BindingSpec => {
  const weight = field(spec, "weight");
  return {
    azureIdentity: text(field(spec, "azureIdentity")),
    selector: text(field(spec, "selector")),
    ...(typeof weight === "number" ? { weight } : {}),
  };
});

/** An exception's podLabels (values as strings). */
export function exceptionPodLabels(exception: Pick<AzurePodIdentityException, "spec">): Record<string, string> {
  const labels = field(exception.spec as unknown as Record<string, unknown> | undefined, "podLabels");
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
