import type { ClusterInfo } from "../../../azure/clusters.js";
import type { DoctorContext } from "../context.js";

/** The AKS cluster if it can be read, else undefined (fix commands then carry placeholders). */
export async function clusterIfKnown(ctx: DoctorContext): Promise<ClusterInfo | undefined> {
  try {
    return await ctx.aksCluster();
  } catch {
    return undefined;
  }
}

/** `podid install` for this cluster, with extra arguments. */
export async function installFix(ctx: DoctorContext, ...extra: string[]): Promise<string> {
  const cluster = await clusterIfKnown(ctx);
  const name = cluster?.name ?? ctx.clusterRef.name ?? "<cluster>";
  const group = cluster?.resourceGroup ?? ctx.clusterRef.resourceGroup ?? "<group>";
  return ["podid install --cluster", name, "-g", group, ...extra].join(" ");
}

/** A shell-safe word (names in fix commands are DNS-1123 or Azure names; quote anything else). */
