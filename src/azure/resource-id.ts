import { UsageCode, UsageError } from "../errors/index.js";

/** A parsed ARM resource id. Providers and types compare case-insensitively, as ARM does. */
export interface ResourceId {
  subscriptionId: string;
  resourceGroup: string;
  provider: string;
  type: string;
  name: string;
}

const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)$/i;

export const USER_ASSIGNED_IDENTITY_TYPE = { provider: "Microsoft.ManagedIdentity", type: "userAssignedIdentities" };

/** Parses an id of a top-level resource; the portal's `resourcegroups` and ARM's `resourceGroups` both work. */
export function parseResourceId(value: string, expected?: { provider: string; type: string }): ResourceId {
  const m = RESOURCE_ID.exec(value.trim().replace(/\/+$/, ""));
  const example = `/subscriptions/<subscription-id>/resourceGroups/<group>/providers/${expected ? `${expected.provider}/${expected.type}` : "<provider>/<type>"}/<name>`;
  if (!m) {
    throw new UsageError(`'${value}' is not a resource id`, `Give it as ${example}.`, UsageCode.InvalidResourceId);
  }
  const id: ResourceId = { subscriptionId: m[1], resourceGroup: m[2], provider: m[3], type: m[4], name: m[5] };
  if (expected && (id.provider.toLowerCase() !== expected.provider.toLowerCase() || id.type.toLowerCase() !== expected.type.toLowerCase())) {
    throw new UsageError(
      `'${value}' is a ${id.provider}/${id.type}, not a ${expected.provider}/${expected.type}`,
      `Give it as ${example}.`,
      UsageCode.InvalidResourceId,
    );
  }
  return expected ? { ...id, provider: expected.provider, type: expected.type } : id;
}

/** The canonical spelling, as ARM returns it and as the v1 CRDs expect. */
export function formatResourceId(id: ResourceId): string {
  return `/subscriptions/${id.subscriptionId}/resourceGroups/${id.resourceGroup}/providers/${id.provider}/${id.type}/${id.name}`;
}

/** A resource id or scope as ARM compares them: case-insensitive, trailing slashes ignored. */
export function canonicalScope(scope: string): string {
  return scope.replace(/\/+$/, "").toLowerCase();
}

/** Both given, and the same resource (ARM ids are case-insensitive). */
export function sameResourceId(a: string | undefined, b: string | undefined): boolean {
  return Boolean(a && b && canonicalScope(a) === canonicalScope(b));
}
