/**
 * `podid migrate`'s plan: the stable JSON schema `podid migrate plan -o json` prints (docs/migrate.md). Fields are
 * only ever added; anything else bumps MIGRATION_SCHEMA_VERSION.
 */
export const MIGRATION_SCHEMA_VERSION = 1;

/** Where a workload stands: pod identity only, both paths (rolled out), verified on workload identity, finished. */
export type MigrationState = "pod-identity" | "both" | "verified" | "finished";

/** Why something cannot be moved (yet), with what to do about it. Codes are stable (docs/migrate-plan.schema.json). */
export const BlockerCode = {
  OidcIssuerDisabled: "OidcIssuerDisabled",
  WorkloadIdentityDisabled: "WorkloadIdentityDisabled",
  CredentialLimit: "CredentialLimit",
  CredentialAudience: "CredentialAudience",
  ServicePrincipalIdentity: "ServicePrincipalIdentity",
  InvalidIdentity: "InvalidIdentity",
  IdentityNotFound: "IdentityNotFound",
  ExceptionPod: "ExceptionPod",
  BarePod: "BarePod",
  UnsupportedOwner: "UnsupportedOwner",
  ImmutableJob: "ImmutableJob",
  LabelOnPodsOnly: "LabelOnPodsOnly",
  SharedServiceAccount: "SharedServiceAccount",
  ServiceAccountMissing: "ServiceAccountMissing",
  ServiceAccountTaken: "ServiceAccountTaken",
  ServiceAccountAnnotated: "ServiceAccountAnnotated",
  ProxyOnHostNetwork: "ProxyOnHostNetwork",
} as const;
export type BlockerCode = (typeof BlockerCode)[keyof typeof BlockerCode];
export const BLOCKER_CODES: readonly BlockerCode[] = Object.values(BlockerCode);

/** The cluster's own switches, which `apply --enable-workload-identity` turns on. */
export const CLUSTER_SWITCH_BLOCKERS: ReadonlySet<BlockerCode> = new Set([BlockerCode.OidcIssuerDisabled, BlockerCode.WorkloadIdentityDisabled]);

export interface Blocker {
  code: BlockerCode;
  message: string;
  remedy?: string;
}

export interface IdentityRef {
  namespace: string;
  name: string;
}

export interface IdentityPlan extends IdentityRef {
  /** The AzureIdentity's type: 0 user-assigned identity; 1 and 2 (service principals) are not migrated. */
  type: number;
  resourceId: string;
  /** As Azure says now (the AzureIdentity's clientID when Azure could not be read). */
  clientId: string;
  tenantId: string | null;
  bindings: { namespace: string; name: string; selector: string }[];
  credentials: { existing: number; toCreate: number; afterMigration: number; limit: number };
  blockers: Blocker[];
}

export interface WorkloadPlan {
  /** Deployment, StatefulSet, DaemonSet, Job, CronJob; Pod for a pod with no owner; else the owner's kind. */
  kind: string;
  namespace: string;
  name: string;
  /** `deployment/web`, as `--workload` takes it. */
  ref: string;
  state: MigrationState;
  /** `namespace/name` of the AzureIdentities it gets (the first one is the ServiceAccount's client id). */
  identities: string[];
  /** Its aadpodidbinding value (null once finished). */
  selector: string | null;
  pods: number;
  serviceAccount: { current: string; target: string; create: boolean } | null;
  serviceAccountAnnotations: Record<string, string>;
  podTemplateLabels: Record<string, string>;
  podTemplateAnnotations: Record<string, string>;
  proxySidecar: boolean;
  federatedCredentials: string[];
  migratable: boolean;
  blockers: Blocker[];
  lastFailure: { at: string; reason: string } | null;
}

export interface ServiceAccountPlan {
  namespace: string;
  name: string;
  /** create a new one, annotate an existing one, or none (as wanted already). */
  action: "create" | "annotate" | "none";
  clientId: string;
  annotations: Record<string, string>;
  workloads: string[];
}

export interface CredentialPlan {
  /** `namespace/name` of the AzureIdentity. */
  identity: string;
  identityResourceId: string;
  name: string;
  issuer: string | null;
  subject: string;
  audiences: string[];
  /** create; none when a credential with this issuer and subject exists (its name is given). */
  action: "create" | "none";
  /** Whether podid made it (its name is podid's for this issuer and subject): rollback deletes only those. */
  podids: boolean;
  workloads: string[];
}

export interface MigrationPlan {
  schemaVersion: typeof MIGRATION_SCHEMA_VERSION;
  podidVersion: string;
  generatedAt: string;
  cluster: { name: string; resourceGroup: string; oidcIssuerEnabled: boolean; issuerUrl: string | null; workloadIdentityEnabled: boolean };
  scope: { namespace: string | null; allNamespaces: boolean; identity: string | null; workloads: string[] };
  proxySidecar: { all: boolean; workloads: string[] };
  /** What stops the whole move (the cluster's switches). */
  blockers: Blocker[];
  identities: IdentityPlan[];
  workloads: WorkloadPlan[];
  serviceAccounts: ServiceAccountPlan[];
  federatedCredentials: CredentialPlan[];
  warnings: string[];
  summary: { workloads: number; migratable: number; blocked: number; states: Record<MigrationState, number> };
}
