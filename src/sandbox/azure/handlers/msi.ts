import { randomUUID } from "node:crypto";
import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import type { ArmResource } from "../model.js";
import { findResource, groupId, key, page, providerId, requireGroup, requireSubscription, resourcesOfType, subscriptionScope } from "../scopes.js";

export const IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities";
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/;
const READ = `${IDENTITY_TYPE}/read`;
const WRITE = `${IDENTITY_TYPE}/write`;
const DELETE = `${IDENTITY_TYPE}/delete`;

/** Microsoft.ManagedIdentity/userAssignedIdentities. Creating one creates its service principal in the directory. */
export class MsiHandlers {
  private id(call: ArmCall): string {
    const { subscriptionId, resourceGroupName, resourceName } = call.params;
    return providerId(subscriptionId, resourceGroupName, IDENTITY_TYPE, resourceName);
  }

  private notFound(call: ArmCall): ArmFailure {
    return new ArmFailure(ArmErrors.resourceNotFound(`${IDENTITY_TYPE}/${call.params.resourceName}`, call.params.resourceGroupName));
  }

  createOrUpdate = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName, resourceName } = call.params;
    requireSubscription(call, subscriptionId);
    const id = this.id(call);
    call.demand(WRITE, id);
    requireGroup(call, subscriptionId, resourceGroupName);
    if (!NAME.test(resourceName)) throw new ArmFailure(ArmErrors.invalidResourceName(resourceName));
    const body = call.body<{ location?: string; tags?: Record<string, string> }>();
    const existing = findResource(call, id);
    if (!body.location && !existing) throw new ArmFailure(ArmErrors.locationRequired());
    if (existing) {
      if (body.tags) existing.tags = body.tags;
      call.changed();
      return { status: 200, body: existing };
    }
    const principalId = randomUUID();
    const clientId = randomUUID();
    const identity: ArmResource = {
      id,
      name: resourceName,
      type: IDENTITY_TYPE,
      location: body.location!.toLowerCase().replace(/\s+/g, ""),
      tags: body.tags ?? {},
      properties: { isolationScope: "None", tenantId: call.state.tenantId, principalId, clientId },
    };
    call.state.resources[key(id)] = identity;
    call.state.principals[principalId] = {
      objectId: principalId,
      appId: clientId,
      displayName: resourceName,
      kind: "managedIdentity",
      visibleAt: call.ctx.now() + call.state.settings.replicationDelaySeconds * 1000,
      miResourceId: id,
    };
    call.changed();
    return { status: 201, body: identity };
  };

  get = (call: ArmCall): SandboxResponse => {
    requireSubscription(call, call.params.subscriptionId);
    call.demand(READ, this.id(call));
    requireGroup(call, call.params.subscriptionId, call.params.resourceGroupName);
    const identity = findResource(call, this.id(call));
    if (!identity) throw this.notFound(call);
    return { status: 200, body: identity };
  };

  update = (call: ArmCall): SandboxResponse => {
    requireSubscription(call, call.params.subscriptionId);
    call.demand(WRITE, this.id(call));
    requireGroup(call, call.params.subscriptionId, call.params.resourceGroupName);
    const identity = findResource(call, this.id(call));
    if (!identity) throw this.notFound(call);
    const body = call.body<{ tags?: Record<string, string> }>();
    if (body.tags) identity.tags = body.tags;
    call.changed();
    return { status: 200, body: identity };
  };

  delete = (call: ArmCall): SandboxResponse => {
    requireSubscription(call, call.params.subscriptionId);
    const id = this.id(call);
    call.demand(DELETE, id);
    const identity = findResource(call, id);
    if (!identity) return { status: 204 };
    delete call.state.resources[key(id)];
    const principalId = String(identity.properties?.principalId ?? "");
    delete call.state.principals[principalId];
    call.changed();
    return { status: 200 };
  };

  listByResourceGroup = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    const scope = groupId(subscriptionId, resourceGroupName);
    return { status: 200, body: page(this.visible(call, scope, () => requireGroup(call, subscriptionId, resourceGroupName))) };
  };

  listBySubscription = (call: ArmCall): SandboxResponse => {
    const sub = requireSubscription(call, call.params.subscriptionId);
    return { status: 200, body: page(this.visible(call, subscriptionScope(sub.subscriptionId))) };
  };

  /** A list shows what the caller may read: all of it with read on the scope, else the items readable one by one. */
  private visible(call: ArmCall, scope: string, exists?: () => void): ArmResource[] {
    if (call.can(READ, scope)) {
      exists?.();
      return resourcesOfType(call, IDENTITY_TYPE, scope);
    }
    const items = resourcesOfType(call, IDENTITY_TYPE, scope).filter((r) => call.can(READ, r.id));
    if (!items.length) call.demand(READ, scope);
    return items;
  }
}
