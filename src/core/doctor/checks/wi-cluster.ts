import { enableWorkloadIdentityCommand, USE_LABEL } from "../../../kube/workload-identity.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { clusterProfile, federatedServiceAccounts, usesWorkloadIdentity, workloadIdentityPods } from "./workload-identity.js";

/**
 * 21. The AKS cluster has the OIDC issuer (federated credentials name its URL) and workload identity (the webhook
 * that injects the token) enabled, when anything in scope uses workload identity. Nothing using it: ok, unread.
 */
export const wiClusterCheck: Check = {
  id: "wi-cluster",
  number: 21,
  title: "workload identity: the cluster's OIDC issuer and workload identity are enabled",
  async run(ctx) {
    if (!(await usesWorkloadIdentity(ctx))) return { observed: { usedInScope: false }, findings: [] };
    const [cluster, profile, pods, accounts] = await Promise.all([ctx.aksCluster(), clusterProfile(ctx), workloadIdentityPods(ctx), federatedServiceAccounts(ctx)]);
    const observed = { usedInScope: true, cluster: `${cluster.resourceGroup}/${cluster.name}`, ...profile, labelledPods: pods.length, annotatedServiceAccounts: accounts.length };
    const findings: Finding[] = [];
    const fix = enableWorkloadIdentityCommand(cluster.resourceGroup, cluster.name);
    const objects = [cluster.id];
    if (!profile.oidcIssuerEnabled) {
      findings.push(finding("fail", `AKS cluster ${cluster.name} has no OIDC issuer: Entra ID cannot verify its ServiceAccount tokens, and no federated credential can name its issuer`, { errors: ["AADSTS70021", "AADSTS90061", "oidcIssuerProfile"], fix, objects }));
    }
    if (!profile.workloadIdentityEnabled) {
      findings.push(
        finding("fail", `AKS cluster ${cluster.name} does not have workload identity enabled: no webhook injects AZURE_FEDERATED_TOKEN_FILE and the token volume into pods labelled ${USE_LABEL}=true`, {
          errors: ["AZURE_FEDERATED_TOKEN_FILE", "WorkloadIdentityCredential: is not configured", "no such file or directory"],
          fix,
          objects,
        }),
      );
    }
    return { observed, findings };
  },
};
