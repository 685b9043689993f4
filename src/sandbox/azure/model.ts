/**
 * The sandbox cloud's persisted world: one tenant, its directory (service principals), its subscriptions and
 * everything ARM holds. Keys of the id-indexed maps are lower-cased resource ids, because ARM ids compare
 * case-insensitively; the stored objects keep the casing the caller first used, as ARM does.
 */

export interface Principal {
  objectId: string;
  /** The application (client) id; for a managed identity, its clientId. */
  appId: string;
  displayName: string;
  kind: "application" | "managedIdentity";
  /** Epoch ms from which role assignments may reference it (Entra replication delay). */
  visibleAt: number;
  /** Client secret of an application principal (the sandbox CLI's). Only ever in 0600 state files. */
  secret?: string;
  /** For a user-assigned identity: its ARM resource id (the xms_mirid claim). */
  miResourceId?: string;
}

export interface Subscription {
  subscriptionId: string;
  displayName: string;
  state: "Enabled";
}

/** A resource group or a provider resource, as ARM returns it (minus computed fields). */
export interface ArmResource {
  id: string;
  name: string;
  type: string;
  location?: string;
  tags?: Record<string, string>;
  properties?: Record<string, unknown>;
  identity?: Record<string, unknown>;
  sku?: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface RoleAssignment {
  id: string;
  name: string;
  type: "Microsoft.Authorization/roleAssignments";
  properties: {
    roleDefinitionId: string;
    principalId: string;
    principalType: string;
    scope: string;
    description?: string;
    condition?: string;
    conditionVersion?: string;
    createdOn: string;
    updatedOn: string;
    createdBy: string;
    updatedBy: string;
  };
}

export interface RoleDefinition {
  /** The role's GUID (the last segment of its id). */
  name: string;
  properties: {
    roleName: string;
    description: string;
    type: "BuiltInRole" | "CustomRole";
    assignableScopes: string[];
    permissions: { actions: string[]; notActions: string[]; dataActions: string[]; notDataActions: string[] }[];
  };
}

/** The emulated services a fault rule can target: the clusters' OIDC issuer host is `oidc`. */
export const FAULT_SERVICES = ["arm", "entra", "imds", "oidc"] as const;
export type FaultService = (typeof FAULT_SERVICES)[number];

export interface FaultRule {
  id: string;
  /** Which emulated service it applies to. */
  service: FaultService | "*";
  /** HTTP method or "*". */
  method: string;
  /** Glob over the request path, case-insensitive; `*` matches anything including `/`. */
  path: string;
  /** Answer with this status instead of serving (429, 500, 503); omit for latency-only rules. */
  status?: number;
  retryAfterSeconds?: number;
  latencyMs?: number;
  /** Close the connection without an answer (the client sees a reset / "socket hang up"). */
  drop?: boolean;
  /** How many matching requests to fault; unlimited when absent. */
  count?: number;
}

export interface AzureState {
  tenantId: string;
  /** The sandbox's topology names, so everyone derives the same ids. */
  seed: SeedInfo;
  principals: Record<string, Principal>;
  subscriptions: Record<string, Subscription>;
  /** Resource groups and provider resources, by lower-cased id. */
  resources: Record<string, ArmResource>;
  roleAssignments: Record<string, RoleAssignment>;
  /** Custom role definitions, by lower-cased GUID; built-ins are static. */
  customRoles: Record<string, RoleDefinition>;
  settings: SandboxSettings;
  faults: FaultRule[];
  /**
   * Entra ID's view of each federated identity credential written through ARM (by lower-cased id): ARM accepts a
   * write at once, Entra ID's token exchange learns it after the federation delay (federation.ts). Absent for a
   * credential Entra ID has caught up with since state of this shape was written.
   */
  federation?: Record<string, FederationView>;
}

/** The values of a federated identity credential Entra ID's token exchange matches an assertion against. */
export interface FederatedMatch {
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface FederationView {
  /** When the credential's current value reaches Entra ID's token exchange (epoch ms of the sandbox clock). */
  readyAt: number;
  /** What the exchange matches until then: the value it knew before the last change; absent for a new credential. */
  previous?: FederatedMatch;
}

export interface SandboxSettings {
  replicationDelaySeconds: number;
  /** Seconds a new or changed federated identity credential takes to reach Entra ID's token exchange. */
  federationDelaySeconds?: number;
  /** How long ARM takes to write a federated identity credential; other writes to that identity meanwhile get 409. */
  federatedCredentialWriteMs?: number;
  /** How far the sandbox clock runs ahead of real time (see clock.ts). */
  clockOffsetSeconds?: number;
}

export interface SeedNode {
  /** Kubernetes node name, e.g. aks-nodepool1-12345678-vmss000000. */
  name: string;
  /** Scale-set instance id ("0", "1", ...). */
  instanceId: string;
  /** ARM id of the scale-set VM (the node's providerID without the azure:// prefix). */
  vmId: string;
  /** The node's address inside the cluster network. */
  internalIP: string;
  /** The VM's unique id (IMDS compute.vmId). */
  vmUuid: string;
}

export interface SeedInfo {
  subscriptionId: string;
  location: string;
  resourceGroup: string;
  clusterName: string;
  nodeResourceGroup: string;
  vmssName: string;
  kubeletIdentityName: string;
  /** Object id of the sandbox CLI's service principal (Owner on the subscription). */
  cliPrincipalId: string;
  /** Second octet of the sandbox's loopback network (nodes 127.<network>.0.x); absent in sandboxes made before it. */
  network?: number;
  nodes: SeedNode[];
}
