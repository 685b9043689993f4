import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import type { ArmResource } from "../model.js";
import { checkGroupName, findResource, isResourceId, normalizeLocation, groupId, key, page, requireGroup, requireSubscription, subscriptionScope } from "../scopes.js";
import type { SandboxResponse } from "../../http/types.js";

const READ_GROUP = "Microsoft.Resources/subscriptions/resourceGroups/read";
const WRITE_GROUP = "Microsoft.Resources/subscriptions/resourceGroups/write";
const DELETE_GROUP = "Microsoft.Resources/subscriptions/resourceGroups/delete";

function groupView(rg: ArmResource): ArmResource {
  return { ...rg, properties: { provisioningState: "Succeeded", ...rg.properties } };
}

/** Microsoft.Resources: subscriptions and resource groups. */
export class ResourceHandlers {
  listSubscriptions = (call: ArmCall): SandboxResponse => {
    const visible = Object.values(call.state.subscriptions).filter((s) =>
      Object.values(call.state.roleAssignments).some(
        (a) => a.properties.principalId.toLowerCase() === call.caller.toLowerCase() && key(a.properties.scope).startsWith(key(subscriptionScope(s.subscriptionId))),
      ),
    );
    return { status: 200, body: page(visible.map((s) => this.subscriptionView(call, s.subscriptionId))) };
  };

  getSubscription = (call: ArmCall): SandboxResponse => {
    const sub = requireSubscription(call, call.params.subscriptionId);
    call.demand("Microsoft.Resources/subscriptions/read", subscriptionScope(sub.subscriptionId));
    return { status: 200, body: this.subscriptionView(call, sub.subscriptionId) };
  };

  private subscriptionView(call: ArmCall, subscriptionId: string) {
    const s = call.state.subscriptions[subscriptionId.toLowerCase()];
    return {
      id: subscriptionScope(s.subscriptionId),
      authorizationSource: "RoleBased",
      managedByTenants: [],
      subscriptionId: s.subscriptionId,
      tenantId: call.state.tenantId,
      displayName: s.displayName,
      state: s.state,
      subscriptionPolicies: { locationPlacementId: "Public_2014-09-01", quotaId: "PayAsYouGo_2014-09-01", spendingLimit: "Off" },
    };
  }

  listGroups = (call: ArmCall): SandboxResponse => {
    const sub = requireSubscription(call, call.params.subscriptionId);
    const scope = subscriptionScope(sub.subscriptionId);
    const groups = Object.values(call.state.resources).filter((r) => r.type === "Microsoft.Resources/resourceGroups" && key(r.id).startsWith(key(scope) + "/"));
    const visible = call.can(READ_GROUP, scope) ? groups : groups.filter((g) => call.can(READ_GROUP, g.id));
    if (!visible.length && groups.length && !call.can(READ_GROUP, scope)) call.demand(READ_GROUP, scope);
    return { status: 200, body: page(visible.map(groupView)) };
  };

  getGroup = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    call.demand(READ_GROUP, groupId(subscriptionId, resourceGroupName));
    return { status: 200, body: groupView(requireGroup(call, subscriptionId, resourceGroupName)) };
  };

  /** HEAD: 204 when it exists, 404 when not (no body), as ARM's CheckExistence. */
  checkGroup = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    call.demand(READ_GROUP, groupId(subscriptionId, resourceGroupName));
    return { status: findResource(call, groupId(subscriptionId, resourceGroupName)) ? 204 : 404 };
  };

  createOrUpdateGroup = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    const sub = requireSubscription(call, subscriptionId);
    checkGroupName(resourceGroupName);
    const id = groupId(sub.subscriptionId, resourceGroupName);
    call.demand(WRITE_GROUP, id);
    const body = call.body<{ location?: string; tags?: Record<string, string>; managedBy?: string }>();
    const existing = findResource(call, id);
    if (!body.location && !existing) throw new ArmFailure(ArmErrors.locationRequired());
    const rg: ArmResource = {
      id: existing?.id ?? id,
      name: existing?.name ?? resourceGroupName,
      type: "Microsoft.Resources/resourceGroups",
      location: existing?.location ?? normalizeLocation(body.location!),
      ...(body.managedBy ?? existing?.managedBy ? { managedBy: body.managedBy ?? existing?.managedBy } : {}),
      tags: body.tags ?? existing?.tags ?? {},
      properties: { provisioningState: "Succeeded" },
    };
    call.state.resources[key(id)] = rg;
    call.changed();
    return { status: existing ? 200 : 201, body: groupView(rg) };
  };

  updateGroup = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    const id = groupId(subscriptionId, resourceGroupName);
    call.demand(WRITE_GROUP, id);
    const rg = requireGroup(call, subscriptionId, resourceGroupName);
    const body = call.body<{ tags?: Record<string, string> }>();
    if (body.tags) rg.tags = body.tags;
    call.changed();
    return { status: 200, body: groupView(rg) };
  };

  /**
   * The generic resource list of a subscription or group: top-level resources (not groups, not child
   * resources), each shown only to callers who may read it, as ARM filters it; `$filter=resourceType eq '...'`.
   */
  listResources = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    const sub = requireSubscription(call, subscriptionId);
    const scope = resourceGroupName ? groupId(sub.subscriptionId, resourceGroupName) : subscriptionScope(sub.subscriptionId);
    if (resourceGroupName) {
      call.demand(READ_GROUP, scope);
      requireGroup(call, subscriptionId, resourceGroupName);
    }
    const filter = call.req.query.get("$filter");
    const byType = filter ? /^resourceType\s+eq\s+'([^']+)'$/i.exec(filter.trim()) : null;
    if (filter && !byType) throw new ArmFailure(ArmErrors.invalidFilter(filter));
    const items = Object.values(call.state.resources).filter(
      (r) =>
        isResourceId(r.id) &&
        r.id.split("/").filter(Boolean).length === 8 &&
        key(r.id).startsWith(key(scope) + "/") &&
        (!byType || r.type.toLowerCase() === byType[1].toLowerCase()) &&
        call.can(`${r.type}/read`, r.id),
    );
    return { status: 200, body: page(items.map(({ id, name, type, location, tags, identity, sku, managedBy }) => ({ id, name, type, location, tags, ...(identity ? { identity } : {}), ...(sku ? { sku } : {}), ...(managedBy ? { managedBy } : {}) }))) };
  };

  /** Deleting a group deletes everything in it, and the role assignments at or below it. */
  deleteGroup = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    const id = groupId(subscriptionId, resourceGroupName);
    call.demand(DELETE_GROUP, id);
    if (!findResource(call, id)) throw new ArmFailure(ArmErrors.resourceGroupNotFound(resourceGroupName));
    const prefix = key(id);
    for (const k of Object.keys(call.state.resources)) if (k === prefix || k.startsWith(prefix + "/")) delete call.state.resources[k];
    for (const [k, a] of Object.entries(call.state.roleAssignments)) {
      const s = key(a.properties.scope);
      if (s === prefix || s.startsWith(prefix + "/")) delete call.state.roleAssignments[k];
    }
    for (const [k, p] of Object.entries(call.state.principals)) if (p.miResourceId && key(p.miResourceId).startsWith(prefix + "/")) delete call.state.principals[k];
    call.changed();
    return { status: 200 };
  };
}
