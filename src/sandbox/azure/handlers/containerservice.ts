import { randomUUID } from "node:crypto";
import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import type { ArmResource, AzureState } from "../model.js";
import { ResourceType } from "../resource-type.js";
import { page } from "../scopes.js";

export const CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters";

export interface OidcIssuerProfile {
  enabled: boolean;
  /** `https://<oidc host>/<tenant>/<guid>/`, with the trailing slash AKS gives it; set once the issuer is enabled. */
  issuerURL?: string;
}

interface ClusterProperties {
  networkProfile?: Record<string, unknown>;
  oidcIssuerProfile?: OidcIssuerProfile;
  securityProfile?: { workloadIdentity?: { enabled?: boolean }; [other: string]: unknown };
}

/** The JSON type of a value as Go's encoding/json names it in its errors. */
function jsonTypeOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  return typeof value === "object" ? "object" : typeof value;
}

/**
 * The booleans of a PUT body the sandbox acts on must be JSON booleans (or null, which Go leaves unset), as AKS's Go
 * decoder requires: `"true"` or `"yes"` is its UnmarshalError, never silently ignored.
 */
function requireBooleans(properties: unknown): void {
  const p = (properties ?? {}) as { oidcIssuerProfile?: { enabled?: unknown }; securityProfile?: { workloadIdentity?: { enabled?: unknown } } };
  const fields: [unknown, string, string][] = [
    [p.oidcIssuerProfile?.enabled, "ManagedClusterOIDCIssuerProfile", "properties.oidcIssuerProfile.enabled"],
    [p.securityProfile?.workloadIdentity?.enabled, "ManagedClusterSecurityProfileWorkloadIdentity", "properties.securityProfile.workloadIdentity.enabled"],
  ];
  for (const [value, struct, path] of fields) {
    if (value !== undefined && value !== null && typeof value !== "boolean") throw new ArmFailure(ArmErrors.aksUnmarshalError(jsonTypeOf(value), struct, path, "bool"));
  }
}

/** ARM returns the type with a capital M, as real AKS does. */
function view(cluster: ArmResource): ArmResource {
  return { ...cluster, type: "Microsoft.ContainerService/ManagedClusters" };
}

function propertiesOf(cluster: ArmResource): ClusterProperties {
  return (cluster.properties ??= {}) as ClusterProperties;
}

/** The workload-identity side of a cluster, as the sandbox's API server and kubelet need it. */
export function clusterIdentityProfile(cluster: ArmResource | undefined): { issuerURL?: string; workloadIdentity: boolean } {
  const p = (cluster?.properties ?? {}) as ClusterProperties;
  return {
    issuerURL: p.oidcIssuerProfile?.enabled ? p.oidcIssuerProfile.issuerURL : undefined,
    workloadIdentity: p.securityProfile?.workloadIdentity?.enabled === true,
  };
}

/** The cluster whose issuer URL this is, when its issuer is enabled. */
export function clusterOfIssuer(state: AzureState, issuerURL: string): ArmResource | undefined {
  return Object.values(state.resources).find((r) => r.type === CLUSTER_TYPE && clusterIdentityProfile(r).issuerURL === issuerURL);
}

/**
 * Microsoft.ContainerService/managedClusters: read, list, and the updates `az aks update` makes with a GET then a
 * PUT of the whole cluster: tags, the network profile (so a test can turn the sandbox cluster into a kubenet one,
 * as a re-created cluster would be), the OIDC issuer (`--enable-oidc-issuer`: a per-cluster issuer URL on the
 * sandbox's issuer host; it cannot be switched off again) and workload identity (`--enable-workload-identity`,
 * which needs the issuer). PATCH is ARM's updateTags: it changes tags only, as AKS's does.
 */
export class ContainerServiceHandlers {
  private readonly clusters = new ResourceType(CLUSTER_TYPE);

  get = (call: ArmCall): SandboxResponse => ({ status: 200, body: view(this.clusters.require(call)) });

  /** PUT of an existing cluster; creating clusters is not emulated. */
  createOrUpdate = (call: ArmCall): SandboxResponse => {
    const cluster = this.clusters.find(call, this.clusters.write);
    if (!cluster) throw new ArmFailure(ArmErrors.notEmulated("creating managed clusters"));
    const body = call.body<{ tags?: Record<string, string>; properties?: ClusterProperties }>();
    requireBooleans(body.properties);
    const wanted = body.properties ?? {};
    const current = propertiesOf(cluster);
    const issuerOn = current.oidcIssuerProfile?.enabled === true;
    if (wanted.oidcIssuerProfile?.enabled === false && issuerOn) throw new ArmFailure(ArmErrors.oidcIssuerCannotBeDisabled());
    const willHaveIssuer = issuerOn || wanted.oidcIssuerProfile?.enabled === true;
    const workloadIdentity = wanted.securityProfile?.workloadIdentity?.enabled;
    if (workloadIdentity === true && !willHaveIssuer) throw new ArmFailure(ArmErrors.workloadIdentityNeedsOidcIssuer());

    if (body.tags) cluster.tags = body.tags;
    if (wanted.networkProfile) current.networkProfile = { ...current.networkProfile, ...wanted.networkProfile };
    if (willHaveIssuer && !issuerOn) {
      current.oidcIssuerProfile = { enabled: true, issuerURL: `${call.ctx.endpoints.oidcIssuer}/${call.state.tenantId}/${randomUUID()}/` };
    }
    if (workloadIdentity !== undefined) {
      current.securityProfile = { ...current.securityProfile, workloadIdentity: { enabled: workloadIdentity === true } };
    }
    call.changed();
    return { status: 200, body: view(cluster) };
  };

  updateTags = (call: ArmCall): SandboxResponse => {
    const cluster = this.clusters.require(call, this.clusters.write);
    const body = call.body<{ tags?: Record<string, string> }>();
    if (body.tags) cluster.tags = body.tags;
    call.changed();
    return { status: 200, body: view(cluster) };
  };

  listByResourceGroup = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.clusters.listInGroup(call).map(view)) });

  list = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.clusters.listInSubscription(call).map(view)) });
}
