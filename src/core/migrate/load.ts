import type { AzureSession } from "../../azure/session.js";
import type { Progress } from "../../util/progress.js";
import type { KubeSession } from "../../kube/session.js";
import { readAzureIdentities, readCluster, readClusterProfile, type Inventory, type MigrateScope } from "./inventory.js";
import { BlockerCode, type MigrationPlan } from "./model.js";
import { recordedIdentity, workloadRecordOf } from "./records.js";
import { invalidIdentityReason } from "../../aadpodidentity/spec.js";
import { IdentityType } from "../../aadpodidentity/types.js";
import { planMigration } from "./plan.js";

/** What every migrate phase works with: the cluster, Azure, the AKS cluster's name, the scope. */
export interface MigrateContext {
  kube: KubeSession;
  azure: AzureSession;
  cluster: { name: string; resourceGroup: string };
  scope: MigrateScope;
  podidVersion: string;
  /** apply: switch on the cluster's OIDC issuer and workload identity first, as `az aks update` does. */
  enableWorkloadIdentity?: boolean;
  /** How long to wait for a rollout, Entra ID's propagation, MIC's detaching. */
  timeoutMs: number;
  progress: Progress;
}

/**
 * Reads everything and plans. Azure is read only for the identities the scope's workloads use, which a first
 * (pure) pass over the cluster's side names.
 */
export async function loadPlan(ctx: MigrateContext): Promise<{ plan: MigrationPlan; inventory: Inventory }> {
  const [clusterSide, cluster] = await Promise.all([readCluster(ctx.kube, ctx.scope.namespace), readClusterProfile(ctx.azure, ctx.cluster)]);
  const options = { podidVersion: ctx.podidVersion, now: new Date() };
  const first = planMigration({ ...clusterSide, cluster, azure: new Map() }, ctx.scope, options);
  // The identities podid's records name too: finish checks a workload with them once its AzureIdentity is gone.
  const recorded = clusterSide.workloads.flatMap((w) => workloadRecordOf(w)?.identities ?? []).filter((i) => !invalidIdentityReason(recordedIdentity(i)));
  const azure = await readAzureIdentities(ctx.azure, [
    ...first.identities.filter((i) => i.type === IdentityType.userAssignedMSI && !i.blockers.some((b) => b.code === BlockerCode.InvalidIdentity)).map((i) => i.resourceId),
    ...recorded.map((i) => i.resourceID),
  ]);
  const inventory: Inventory = { ...clusterSide, cluster, azure };
  return { plan: planMigration(inventory, ctx.scope, options), inventory };
}
