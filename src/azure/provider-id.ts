/** Node providerIDs (no SDK import: the MIC's pure desired-state function uses this). */

/** What a node's `spec.providerID` names. `id` is lower-cased and identifies the target across nodes. */
export interface ComputeTarget {
  kind: "scaleSet" | "vm";
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  id: string;
}

const PROVIDER_ID =
  /^azure:\/\/\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(?:virtualMachineScaleSets\/([^/]+)\/virtualMachines\/[^/]+|virtualMachines\/([^/]+))\/?$/i;

/** `azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/x/virtualMachines/0` -> scale set x. */
export function computeTargetOfProviderId(providerID: string | undefined): ComputeTarget | undefined {
  const m = providerID ? PROVIDER_ID.exec(providerID.trim()) : null;
  if (!m) return undefined;
  const [, subscriptionId, resourceGroup, scaleSet, vm] = m;
  const kind = scaleSet ? "scaleSet" : "vm";
  const name = scaleSet ?? vm;
  const type = scaleSet ? "virtualMachineScaleSets" : "virtualMachines";
  const id = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/${type}/${name}`.toLowerCase();
  return { kind, subscriptionId, resourceGroup, name, id };
}
