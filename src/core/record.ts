import { formatResourceId, parseResourceId, sameResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { BUILTIN_ROLES, grantKey, PODID_DESCRIPTION_PREFIX, roleGuidOf, type RoleGrant } from "../azure/roles.js";

/**
 * What podid made, recorded as annotations on an object podid applies: on each AzureIdentity, the Azure identity
 * it uses, whether podid created that identity, the roles it is to hold and every role assignment podid made for
 * it; on the MIC Deployment, the kubelet identity's assignments `podid install` made. Re-creation, doctor's fixes,
 * `identity delete` and `uninstall` act from this record, never from descriptions alone.
 *
 * Annotations can be edited by anyone who may edit the object, so reading is strict: an entry that is not what
 * podid writes is dropped and named as a problem, and every removal is checked again in Azure (isPodidsAssignment).
 */
export const RECORD_ANNOTATIONS = {
  resourceId: "podid.io/azure-resource-id",
  principalId: "podid.io/azure-principal-id",
  createdByPodid: "podid.io/azure-identity-created-by-podid",
  roles: "podid.io/roles",
  roleAssignments: "podid.io/role-assignments",
  bindings: "podid.io/bindings",
} as const;

/**
 * The descriptions podid writes on the role assignments it makes for an AzureIdentity. They are the second key
 * when podid looks for its assignments (after principal, role and scope), and how its traces are found in Azure
 * once the AzureIdentity, and the record with it, is gone.
 */
export const identityGrantDescription = (namespace: string, name: string) => `${PODID_DESCRIPTION_PREFIX}identity ${namespace}/${name}`;
/** The start of every description podid writes on a grant to a cluster's kubelet identity. */
export const kubeletOf = (cluster: string) => `${PODID_DESCRIPTION_PREFIX}kubelet of ${cluster} `;
export const kubeletGrantDescription = (cluster: string, namespace: string, name: string) => `${kubeletOf(cluster)}may assign identity ${namespace}/${name}`;
/** What install writes on the kubelet identity's own grants (MIC's roles). */
export const installGrantDescription = (cluster: string) => `${kubeletOf(cluster)}runs MIC`;
export const isKubeletGrantFor = (description: string, namespace: string, name: string) => description.startsWith(`${PODID_DESCRIPTION_PREFIX}kubelet of `) && description.endsWith(` may assign identity ${namespace}/${name}`);

/** A role the identity is to hold at a scope (what `--role` and `--scope` asked for). */
export interface RoleAtScope {
  role: string;
  roleDefinitionId: string;
  scope: string;
}

export interface IdentityRecord {
  resourceId?: string;
  principalId?: string;
  createdByPodid?: boolean;
  roles: RoleAtScope[];
  /** Assignments podid made: the identity's, and the kubelet identity's on it. */
  roleAssignments: RoleGrant[];
  /** The AzureIdentityBindings podid applied for it (identity add --binding-selector, bind), in its namespace. */
  bindings?: RecordedBinding[];
}

export interface RecordedBinding {
  name: string;
  selector: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROLE_DEFINITION = /^(?:(?:\/subscriptions\/[0-9a-f-]{36})?\/providers\/Microsoft\.Authorization\/roleDefinitions\/)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An ARM scope: a subscription, something in it, or a management group; no empty or dot segments. */
const SCOPE = /^(?:\/(?!\.{1,2}(?:\/|$))[^/\s]+)+$/;
const isScope = (v: unknown): v is string => typeof v === "string" && SCOPE.test(v) && /^\/(subscriptions|providers)\//i.test(v);

/** Role and scope as one comparable key (the role by its GUID, the scope case-insensitively). */
export const roleKey = (r: Pick<RoleAtScope, "roleDefinitionId" | "scope">) => grantKey({ principalId: "", ...r });

function parseList(annotations: Record<string, string>, key: string, what: string, problems: string[]): Record<string, unknown>[] {
  const text = annotations[key];
  if (text === undefined) return [];
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value)) return value.map((v) => (v && typeof v === "object" ? (v as Record<string, unknown>) : {}));
  } catch {
    // named below
  }
  problems.push(`annotation ${key} is not a JSON list of ${what}; it is ignored`);
  return [];
}

function grantsOf(annotations: Record<string, string>, key: string, problems: string[]): RoleGrant[] {
  const out = new Map<string, RoleGrant>();
  parseList(annotations, key, "role assignments", problems).forEach((e, i) => {
    const { principalId, roleDefinitionId, scope, role } = e;
    if (typeof principalId !== "string" || !GUID.test(principalId) || typeof roleDefinitionId !== "string" || !ROLE_DEFINITION.test(roleDefinitionId) || !isScope(scope)) {
      problems.push(`annotation ${key}: entry ${i + 1} is not a role assignment (principalId, roleDefinitionId, scope); it is ignored`);
      return;
    }
    const grant: RoleGrant = { principalId: principalId.toLowerCase(), roleDefinitionId, scope, ...(typeof role === "string" ? { role } : {}) };
    out.set(grantKey(grant), grant);
  });
  return [...out.values()];
}

/** The record on an object's annotations, and what in it had to be ignored. */
export function readIdentityRecord(annotations: Record<string, string> | undefined): { record: IdentityRecord; problems: string[] } {
  const a = annotations ?? {};
  const problems: string[] = [];
  const record: IdentityRecord = { roles: [], roleAssignments: grantsOf(a, RECORD_ANNOTATIONS.roleAssignments, problems) };
  const rid = a[RECORD_ANNOTATIONS.resourceId];
  if (rid !== undefined) {
    try {
      record.resourceId = formatResourceId(parseResourceId(rid, USER_ASSIGNED_IDENTITY_TYPE));
    } catch {
      problems.push(`annotation ${RECORD_ANNOTATIONS.resourceId} is not a user-assigned identity's resource id; it is ignored`);
    }
  }
  const principal = a[RECORD_ANNOTATIONS.principalId];
  if (principal !== undefined) {
    if (GUID.test(principal)) record.principalId = principal.toLowerCase();
    else problems.push(`annotation ${RECORD_ANNOTATIONS.principalId} is not a GUID; it is ignored`);
  }
  const created = a[RECORD_ANNOTATIONS.createdByPodid];
  if (created !== undefined) {
    if (created === "true" || created === "false") record.createdByPodid = created === "true";
    else problems.push(`annotation ${RECORD_ANNOTATIONS.createdByPodid} is neither "true" nor "false"; it is ignored`);
  }
  const roles = new Map<string, RoleAtScope>();
  parseList(a, RECORD_ANNOTATIONS.roles, "roles", problems).forEach((e, i) => {
    const { role, roleDefinitionId, scope } = e;
    if (typeof roleDefinitionId !== "string" || !ROLE_DEFINITION.test(roleDefinitionId) || !isScope(scope)) {
      problems.push(`annotation ${RECORD_ANNOTATIONS.roles}: entry ${i + 1} is not a role at a scope (roleDefinitionId, scope); it is ignored`);
      return;
    }
    const entry = { role: typeof role === "string" ? role : roleDefinitionId, roleDefinitionId, scope };
    roles.set(roleKey(entry), entry);
  });
  record.roles = [...roles.values()];
  const bindings = parseList(a, RECORD_ANNOTATIONS.bindings, "bindings", problems).flatMap((e, i) => {
    const { name, selector } = e;
    if (typeof name === "string" && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) && typeof selector === "string" && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(selector)) return [{ name, selector }];
    problems.push(`annotation ${RECORD_ANNOTATIONS.bindings}: entry ${i + 1} is not a binding (name, selector); it is ignored`);
    return [];
  });
  if (bindings.length) record.bindings = bindings;
  return { record, problems };
}

const sorted = <T>(items: T[], key: (t: T) => string) => [...items].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));

/** The annotations that carry a record, in a stable form (sorted), so re-applying the same record changes nothing. */
export function identityRecordAnnotations(record: IdentityRecord): Record<string, string> {
  return {
    ...(record.resourceId ? { [RECORD_ANNOTATIONS.resourceId]: record.resourceId } : {}),
    ...(record.principalId ? { [RECORD_ANNOTATIONS.principalId]: record.principalId } : {}),
    ...(record.createdByPodid !== undefined ? { [RECORD_ANNOTATIONS.createdByPodid]: String(record.createdByPodid) } : {}),
    ...(record.roles.length ? { [RECORD_ANNOTATIONS.roles]: JSON.stringify(sorted(record.roles, roleKey).map(({ role, roleDefinitionId, scope }) => ({ role, roleDefinitionId, scope }))) } : {}),
    ...grantsAnnotation(record.roleAssignments),
    ...bindingsAnnotation(record.bindings ?? []),
  };
}

/** The bindings annotation; null (removed) when there is none, for a merge patch. */
export function bindingsAnnotation(bindings: RecordedBinding[]): Record<string, string> {
  if (!bindings.length) return {};
  return { [RECORD_ANNOTATIONS.bindings]: JSON.stringify(sorted(withBinding(bindings), (b) => b.name)) };
}

/** The list with this binding (replacing one of the same name), or without the named one. */
export function withBinding(bindings: RecordedBinding[], add?: RecordedBinding, remove?: string): RecordedBinding[] {
  const out = new Map(bindings.map((b) => [b.name, { name: b.name, selector: b.selector }]));
  if (remove) out.delete(remove);
  if (add) out.set(add.name, { name: add.name, selector: add.selector });
  return [...out.values()];
}

/** Just the role assignments (the MIC Deployment's record of the kubelet identity's grants). */
export function readGrantsRecord(annotations: Record<string, string> | undefined): { grants: RoleGrant[]; problems: string[] } {
  const problems: string[] = [];
  return { grants: grantsOf(annotations ?? {}, RECORD_ANNOTATIONS.roleAssignments, problems), problems };
}

export function grantsAnnotation(grants: RoleGrant[]): Record<string, string> {
  if (!grants.length) return {};
  const entries = sorted(grants, grantKey).map(({ principalId, role, roleDefinitionId, scope }) => ({ principalId, ...(role ? { role } : {}), roleDefinitionId, scope }));
  return { [RECORD_ANNOTATIONS.roleAssignments]: JSON.stringify(entries) };
}

/** Grants of both lists, each once (by principal, role and scope); later ones win. */
export function unionGrants(...lists: RoleGrant[][]): RoleGrant[] {
  const out = new Map<string, RoleGrant>();
  for (const g of lists.flat()) out.set(grantKey(g), g);
  return [...out.values()];
}

export function unionRoles(...lists: RoleAtScope[][]): RoleAtScope[] {
  const out = new Map<string, RoleAtScope>();
  for (const r of lists.flat()) out.set(roleKey(r), r);
  return [...out.values()];
}

/** A grant as people read it: role, scope, principal. */
export const describeGrant = (g: RoleGrant) => `role assignment ${g.role ?? roleGuidOf(g.roleDefinitionId)} at ${g.scope} for principal ${g.principalId}`;

/** What a recorded grant is for an AzureIdentity: the identity's own, the kubelet's on the identity, or not its to act on. */
export interface RecordedGrants {
  /** The identity's own principal's grants. */
  own: RoleGrant[];
  /** The kubelet's Managed Identity Operator on exactly this identity (what `identity add` makes on it). */
  onIdentity: RoleGrant[];
  /** Everything else in the record, each with why it is ignored ("<grant> is ...; it is ignored"). */
  ignored: { grant: RoleGrant; why: string }[];
}

/**
 * Which grants an AzureIdentity's record may make podid act on (remove). Annotations can be edited by anyone who may
 * edit the AzureIdentity, so a grant counts only when it is what `identity add` makes for it: one of the identity's
 * own principal (the recorded principal, and the identity's actual one when it exists), or the kubelet's Managed
 * Identity Operator scoped to exactly this identity. Anything else (the kubelet's grants at a group, which `podid
 * install` records on the MIC Deployment; other principals' grants) is ignored and named.
 */
export function recordedGrantsFor(
  record: Pick<IdentityRecord, "principalId" | "roleAssignments">,
  identity: { resourceId?: string; principalId?: string },
  installGrants: readonly RoleGrant[] = [],
): RecordedGrants {
  const install = new Set(installGrants.map(grantKey));
  const out: RecordedGrants = { own: [], onIdentity: [], ignored: [] };
  const actual = identity.principalId?.toLowerCase();
  for (const g of record.roleAssignments) {
    const principal = g.principalId.toLowerCase();
    if (install.has(grantKey(g))) out.ignored.push({ grant: g, why: `${describeGrant(g)} is one of the kubelet's grants podid install recorded on the MIC Deployment, not this identity's; it is ignored` });
    else if (record.principalId === principal && (!actual || actual === principal)) out.own.push(g);
    else if (roleGuidOf(g.roleDefinitionId) === BUILTIN_ROLES.managedIdentityOperator && sameResourceId(g.scope, identity.resourceId)) out.onIdentity.push(g);
    else
      out.ignored.push({
        grant: g,
        why: `${describeGrant(g)} is neither the identity's own (principal ${actual ?? record.principalId ?? "not recorded"}) nor the kubelet's Managed Identity Operator on ${identity.resourceId ?? "the identity"}; it is ignored`,
      });
  }
  return out;
}

/**
 * The record with every role named by Azure from its definition (the name in the annotation is never trusted): an
 * entry whose recorded name is not its definition's, or whose definition does not exist, is dropped and named.
 */
export async function nameRecordedRoles(record: IdentityRecord, roleName: (roleDefinitionId: string) => Promise<string | undefined>): Promise<{ record: IdentityRecord; problems: string[] }> {
  const problems: string[] = [];
  const named = async <T extends { roleDefinitionId: string; role?: string; scope: string }>(entries: T[], key: string): Promise<T[]> => {
    const out: T[] = [];
    for (const e of entries) {
      const name = await roleName(e.roleDefinitionId);
      const recorded = e.role !== undefined && e.role !== e.roleDefinitionId ? e.role : undefined;
      if (name === undefined) problems.push(`annotation ${key}: the entry at ${e.scope} names role definition ${roleGuidOf(e.roleDefinitionId)}, which does not exist; it is ignored`);
      else if (recorded !== undefined && recorded.toLowerCase() !== name.toLowerCase())
        problems.push(`annotation ${key}: the entry at ${e.scope} says role '${recorded}' but its roleDefinitionId is '${name}'; it is ignored`);
      else out.push({ ...e, role: name });
    }
    return out;
  };
  return { record: { ...record, roles: await named(record.roles, RECORD_ANNOTATIONS.roles), roleAssignments: await named(record.roleAssignments, RECORD_ANNOTATIONS.roleAssignments) }, problems };
}
