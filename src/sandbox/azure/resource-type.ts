import { ArmErrors } from "./arm-errors.js";
import { ArmFailure, type ArmCall } from "./arm-call.js";
import type { ArmResource } from "./model.js";
import { findResource, groupId, providerId, requireGroup, requireSubscription, resourcesOfType, subscriptionScope } from "./scopes.js";

/**
 * A tracked resource type that lives in resource groups (`.../resourceGroups/{resourceGroupName}/providers/
 * {type}/{resourceName}`): its ids, and reads and lists in ARM's order — the caller's permission first, then the
 * group, then the resource — so every provider handler answers missing things and refusals the same way.
 */
export class ResourceType {
  readonly read: string;
  readonly write: string;
  readonly delete: string;

  constructor(readonly type: string) {
    this.read = `${type}/read`;
    this.write = `${type}/write`;
    this.delete = `${type}/delete`;
  }

  /** The id the route names (routes capture subscriptionId, resourceGroupName, resourceName). */
  id(call: ArmCall): string {
    const { subscriptionId, resourceGroupName, resourceName } = call.params;
    return providerId(subscriptionId, resourceGroupName, this.type, resourceName);
  }

  notFound(call: ArmCall): ArmFailure {
    return new ArmFailure(ArmErrors.resourceNotFound(`${this.type}/${call.params.resourceName}`, call.params.resourceGroupName));
  }

  /** Checks `action` on the resource, then that its subscription and group exist; the resource if it does. */
  find(call: ArmCall, action: string): ArmResource | undefined {
    requireSubscription(call, call.params.subscriptionId);
    call.demand(action, this.id(call));
    requireGroup(call, call.params.subscriptionId, call.params.resourceGroupName);
    return findResource(call, this.id(call));
  }

  /** As find(), but a missing resource is ResourceNotFound. */
  require(call: ArmCall, action = this.read): ArmResource {
    const found = this.find(call, action);
    if (!found) throw this.notFound(call);
    return found;
  }

  listInGroup(call: ArmCall): ArmResource[] {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    return this.visible(call, groupId(subscriptionId, resourceGroupName), () => requireGroup(call, subscriptionId, resourceGroupName));
  }

  listInSubscription(call: ArmCall): ArmResource[] {
    const sub = requireSubscription(call, call.params.subscriptionId);
    return this.visible(call, subscriptionScope(sub.subscriptionId));
  }

  /** ARM filters lists by permission: all with read on the scope, else the items readable one by one, else 403. */
  private visible(call: ArmCall, scope: string, exists?: () => void): ArmResource[] {
    if (call.can(this.read, scope)) {
      exists?.();
      return resourcesOfType(call, this.type, scope);
    }
    const items = resourcesOfType(call, this.type, scope).filter((r) => call.can(this.read, r.id));
    if (!items.length) call.demand(this.read, scope);
    return items;
  }
}
