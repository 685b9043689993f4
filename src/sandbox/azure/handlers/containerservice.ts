import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import type { ArmResource } from "../model.js";
import { findResource, groupId, page, providerId, requireGroup, requireSubscription, resourcesOfType, subscriptionScope } from "../scopes.js";

export const CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters";
const READ = `${CLUSTER_TYPE}/read`;
const WRITE = `${CLUSTER_TYPE}/write`;

/** ARM returns the type with a capital M, as real AKS does. */
function view(cluster: ArmResource): ArmResource {
  return { ...cluster, type: "Microsoft.ContainerService/ManagedClusters" };
}

/**
 * Microsoft.ContainerService/managedClusters: read, list, and an update of the network profile (so a test can
 * turn the sandbox cluster into a kubenet one, as `az aks update` cannot but a re-created cluster would be).
 */
export class ContainerServiceHandlers {
  private id(call: ArmCall): string {
    return providerId(call.params.subscriptionId, call.params.resourceGroupName, CLUSTER_TYPE, call.params.resourceName);
  }

  private require(call: ArmCall): ArmResource {
    requireSubscription(call, call.params.subscriptionId);
    requireGroup(call, call.params.subscriptionId, call.params.resourceGroupName);
    const cluster = findResource(call, this.id(call));
    if (!cluster) throw new ArmFailure(ArmErrors.resourceNotFound(`${CLUSTER_TYPE}/${call.params.resourceName}`, call.params.resourceGroupName));
    return cluster;
  }

  get = (call: ArmCall): SandboxResponse => {
    call.demand(READ, this.id(call));
    return { status: 200, body: view(this.require(call)) };
  };

  /** PUT of an existing cluster: only networkProfile and tags change; creating clusters is not emulated. */
  createOrUpdate = (call: ArmCall): SandboxResponse => {
    call.demand(WRITE, this.id(call));
    requireSubscription(call, call.params.subscriptionId);
    requireGroup(call, call.params.subscriptionId, call.params.resourceGroupName);
    const cluster = findResource(call, this.id(call));
    if (!cluster) throw new ArmFailure(ArmErrors.notEmulated("creating managed clusters"));
    const body = call.body<{ tags?: Record<string, string>; properties?: { networkProfile?: Record<string, unknown> } }>();
    if (body.tags) cluster.tags = body.tags;
    const network = body.properties?.networkProfile;
    if (network && cluster.properties) cluster.properties.networkProfile = { ...(cluster.properties.networkProfile as object), ...network };
    call.changed();
    return { status: 200, body: view(cluster) };
  };

  listByResourceGroup = (call: ArmCall): SandboxResponse => {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    const scope = groupId(subscriptionId, resourceGroupName);
    call.demand(READ, scope);
    requireGroup(call, subscriptionId, resourceGroupName);
    return { status: 200, body: page(resourcesOfType(call, CLUSTER_TYPE, scope).map(view)) };
  };

  list = (call: ArmCall): SandboxResponse => {
    const sub = requireSubscription(call, call.params.subscriptionId);
    const scope = subscriptionScope(sub.subscriptionId);
    const all = resourcesOfType(call, CLUSTER_TYPE, scope);
    const visible = call.can(READ, scope) ? all : all.filter((c) => call.can(READ, c.id));
    if (!visible.length && !call.can(READ, scope)) call.demand(READ, scope);
    return { status: 200, body: page(visible.map(view)) };
  };
}
