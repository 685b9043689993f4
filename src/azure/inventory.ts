import { fromAzureError } from "./errors.js";
import type { AzureSession } from "./session.js";

/** The compute in one resource group: scale sets with their instance counts, and standalone VMs. */
export interface ComputeInventory {
  scaleSets: { name: string; instances: number }[];
  /** Standalone VMs (availability-set node pools); scale-set instances are counted in `scaleSets`. */
  standaloneVms: number;
  /** Every VM: standalone ones plus every scale-set instance. */
  vmCount: number;
}

async function count<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * Lists the scale sets (and their instances) and the VMs of a resource group: the read-only ARM calls a
 * workload with Reader on the group can make, as aad-pod-identity's demo does.
 */
export async function computeInventory(azure: AzureSession, resourceGroup: string): Promise<ComputeInventory> {
  const compute = await azure.compute();
  try {
    const [scaleSets, vms] = await Promise.all([
      count(compute.virtualMachineScaleSets.list(resourceGroup)),
      count(compute.virtualMachines.list(resourceGroup)),
    ]);
    const withInstances = await Promise.all(
      scaleSets.map(async (s) => ({ name: s.name!, instances: (await count(compute.virtualMachineScaleSetVMs.list(resourceGroup, s.name!))).length })),
    );
    return {
      scaleSets: withInstances,
      standaloneVms: vms.length,
      vmCount: vms.length + withInstances.reduce((n, s) => n + s.instances, 0),
    };
  } catch (err) {
    throw fromAzureError(err, `listing the VMs and scale sets in resource group ${resourceGroup}`);
  }
}
