import { createHash } from "node:crypto";
import { AAD_POD_IDENTITY_API_VERSION, IdentityType, type AzureIdentity } from "../../aadpodidentity/types.js";

/**
 * What podid records on the objects it changes while migrating, so that rollback restores exactly what was there
 * and removes only what podid added: on a workload, what its pod template had before and what podid added (and
 * where the migration stands); on a ServiceAccount, whether podid made it, which annotations it added and which
 * federated credentials it created for it. Each is one JSON annotation.
 */
export const RECORD_ANNOTATION = "podid.io/workload-identity-migration";
const RECORD_VERSION = 1;

export interface RecordedIdentity {
  namespace: string;
  name: string;
  resourceID: string;
  clientID: string;
}

/** The AzureIdentity a record names, as the record has it (when the object itself is gone). */
export function recordedIdentity(r: RecordedIdentity): AzureIdentity {
  return { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { namespace: r.namespace, name: r.name }, spec: { type: IdentityType.userAssignedMSI, resourceID: r.resourceID, clientID: r.clientID } };
}

export interface RecordedBinding {
  namespace: string;
  name: string;
  azureIdentity: string;
  selector: string;
}

export interface WorkloadRecord {
  version: number;
  /** The identities it had through pod identity, and the bindings that gave them (to put them back). */
  identities: RecordedIdentity[];
  bindings: RecordedBinding[];
  selector: string;
  /** serviceAccountName before (null: not set) and the one podid gave it. */
  serviceAccount: { before: string | null; after: string };
  /** Pod template label and annotation keys podid added (those already there are not podid's to remove). */
  added: { labels: string[]; annotations: string[] };
  verified?: { at: string; by: "pod" | "serviceaccount"; pod?: string };
  failed?: { at: string; reason: string };
  finished?: { at: string };
  /** A rollback put aadpodidbinding back (finish had taken it off): MIC must serve the new pods before pod identity is alone. */
  relabelled?: { at: string };
}

export interface ServiceAccountRecord {
  version: number;
  created: boolean;
  /** Annotation keys podid added. */
  annotations: string[];
  /** Federated credentials podid created for this ServiceAccount's subject. */
  credentials: { identity: string; name: string }[];
  /**
   * The workloads it was made or annotated for (`deployment/web`): a rollback finds it through them after their own
   * records are gone (a rollback cut short), and doctor notices a workload that lost its record.
   */
  workloads?: string[];
  /** A rollback had to leave it (something still ran as it): a re-run of rollback deletes it once nothing does. */
  released?: { at: string };
}

function parse<T extends { version: number }>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as T;
    return value && typeof value === "object" && value.version === RECORD_VERSION ? value : undefined;
  } catch {
    return undefined;
  }
}

export function workloadRecordOf(object: { metadata?: { annotations?: Record<string, string> } } | undefined): WorkloadRecord | undefined {
  const record = parse<WorkloadRecord>(object?.metadata?.annotations?.[RECORD_ANNOTATION]);
  return record && Array.isArray(record.identities) && record.serviceAccount && record.added ? record : undefined;
}

export function serviceAccountRecordOf(object: { metadata?: { annotations?: Record<string, string> } } | undefined): ServiceAccountRecord | undefined {
  const record = parse<ServiceAccountRecord>(object?.metadata?.annotations?.[RECORD_ANNOTATION]);
  return record && Array.isArray(record.credentials) && Array.isArray(record.annotations) ? record : undefined;
}

export function newWorkloadRecord(fields: Omit<WorkloadRecord, "version">): WorkloadRecord {
  return { version: RECORD_VERSION, ...fields };
}

export function newServiceAccountRecord(fields: Omit<ServiceAccountRecord, "version">): ServiceAccountRecord {
  return { version: RECORD_VERSION, ...fields };
}

/** The annotation's text: keys in a fixed order, so that writing the same record twice changes nothing. */
export function recordText(record: WorkloadRecord | ServiceAccountRecord): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sorted(record));
}

const slug = (text: string, max: number) => text.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, max).replace(/-+$/, "");

/** Where the issuer's hash goes in a credential's name while the cluster has no OIDC issuer yet (a dry run). */
export const UNKNOWN_ISSUER_HASH = "<issuer-hash>";

/**
 * The federated credential podid creates for (issuer, subject): `podid-<namespace>-<serviceaccount>-<hash>`, a
 * valid name (3 to 120 of letters, digits, - and _, alphanumeric first) that is the same on every run and differs
 * per cluster (the issuer is in the hash), so it is also podid's mark: rollback deletes only credentials so named.
 * Without an issuer (not enabled yet: it is only known once AKS gives it) the hash is UNKNOWN_ISSUER_HASH.
 */
export function credentialName(issuer: string | null, namespace: string, serviceAccount: string): string {
  const hash = issuer === null ? UNKNOWN_ISSUER_HASH : createHash("sha256").update(`${issuer}|${namespace}|${serviceAccount}`).digest("hex").slice(0, 8);
  return ["podid", slug(namespace, 40), slug(serviceAccount, 60), hash].filter(Boolean).join("-");
}
