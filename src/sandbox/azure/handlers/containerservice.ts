import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import type { ArmResource } from "../model.js";
import { ResourceType } from "../resource-type.js";
import { page } from "../scopes.js";

export const CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters";

/** ARM returns the type with a capital M, as real AKS does. */
function view(cluster: ArmResource): ArmResource {
  return { ...cluster, type: "Microsoft.ContainerService/ManagedClusters" };
}

/**
 * Microsoft.ContainerService/managedClusters: read, list, and an update of the network profile (so a test can
 * turn the sandbox cluster into a kubenet one, as `az aks update` cannot but a re-created cluster would be).
 */
export class ContainerServiceHandlers {
  private readonly clusters = new ResourceType(CLUSTER_TYPE);

  get = (call: ArmCall): SandboxResponse => ({ status: 200, body: view(this.clusters.require(call)) });

  /** PUT of an existing cluster: only networkProfile and tags change; creating clusters is not emulated. */
  createOrUpdate = (call: ArmCall): SandboxResponse => {
    const cluster = this.clusters.find(call, this.clusters.write);
    if (!cluster) throw new ArmFailure(ArmErrors.notEmulated("creating managed clusters"));
    const body = call.body<{ tags?: Record<string, string>; properties?: { networkProfile?: Record<string, unknown> } }>();
    if (body.tags) cluster.tags = body.tags;
    const network = body.properties?.networkProfile;
    if (network && cluster.properties) cluster.properties.networkProfile = { ...(cluster.properties.networkProfile as object), ...network };
    call.changed();
    return { status: 200, body: view(cluster) };
  };

  listByResourceGroup = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.clusters.listInGroup(call).map(view)) });

  list = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.clusters.listInSubscription(call).map(view)) });
}
