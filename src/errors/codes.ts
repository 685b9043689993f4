/**
 * Every code a PodidError can carry, one const object per family, and their union. A code is an interface:
 * users read it (`--debug`, doctor's findings) and callers branch on it, so it is spelled once, here, and the
 * compiler checks every comparison. Each family's value equals its key.
 */

/** Bad or missing input: what the command line, or a file it names, got wrong (exit 2); or the user stopped it. */
export const UsageCode = {
  UsageError: "UsageError",
  MissingArgument: "MissingArgument",
  ConfirmationRequired: "ConfirmationRequired",
  Cancelled: "Cancelled",
  /** Ctrl-C (SIGINT) at a prompt or while the command ran: exit 130, as shells report it. */
  Interrupted: "Interrupted",
  /** `-n` typed as the namespace on a command where it is now the name. */
  NamespaceFlagChanged: "NamespaceFlagChanged",
  ScopeWithoutRole: "ScopeWithoutRole",
  InvalidName: "InvalidName",
  InvalidNamespace: "InvalidNamespace",
  InvalidIdentityName: "InvalidIdentityName",
  InvalidGuid: "InvalidGuid",
  InvalidSelector: "InvalidSelector",
  InvalidWorkload: "InvalidWorkload",
  InvalidPodLabels: "InvalidPodLabels",
  InvalidResourceId: "InvalidResourceId",
  InvalidFaults: "InvalidFaults",
  MissingSubscription: "MissingSubscription",
  MissingCluster: "MissingCluster",
  AmbiguousCluster: "AmbiguousCluster",
  /** The command would point an existing binding or AzureIdentity somewhere else, and what used it would lose it. */
  WouldRepoint: "WouldRepoint",
  UnknownRole: "UnknownRole",
  NodeNameMissing: "NodeNameMissing",
  UnknownCloud: "UnknownCloud",
  InvalidCloudProfile: "InvalidCloudProfile",
  CloudConfigUnreadable: "CloudConfigUnreadable",
  CloudConfigInvalid: "CloudConfigInvalid",
  KubeconfigNotFound: "KubeconfigNotFound",
  KubeconfigInvalid: "KubeconfigInvalid",
  UnknownContext: "UnknownContext",
  NoCurrentContext: "NoCurrentContext",
} as const;
export type UsageCode = (typeof UsageCode)[keyof typeof UsageCode];

/**
 * ARM's own error codes that podid tells apart (the `error.code` of ARM's body). A failure with one of these keeps
 * it as its podid code; any other ARM code becomes AzureRequestFailed, with ARM's code in the message and details.
 */
export const ArmCode = {
  AuthorizationFailed: "AuthorizationFailed",
  LinkedAuthorizationFailed: "LinkedAuthorizationFailed",
  ResourceGroupNotFound: "ResourceGroupNotFound",
  ResourceNotFound: "ResourceNotFound",
  NotFound: "NotFound",
  SubscriptionNotFound: "SubscriptionNotFound",
  PrincipalNotFound: "PrincipalNotFound",
  RoleAssignmentExists: "RoleAssignmentExists",
  RoleAssignmentNotFound: "RoleAssignmentNotFound",
  RoleDefinitionDoesNotExist: "RoleDefinitionDoesNotExist",
  FailedIdentityOperation: "FailedIdentityOperation",
  /** The managed identity service writes one federated credential of an identity at a time (409). */
  ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity: "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
} as const;
export type ArmCode = (typeof ArmCode)[keyof typeof ArmCode];

/** Azure (ARM, Entra ID) failed or refused: ARM's codes above, and podid's own. */
export const AzureCode = {
  ...ArmCode,
  AzureCredentialUnavailable: "AzureCredentialUnavailable",
  AzureRequestFailed: "AzureRequestFailed",
  ClusterNotFound: "ClusterNotFound",
  RoleAssignmentNotVisible: "RoleAssignmentNotVisible",
} as const;
export type AzureCode = (typeof AzureCode)[keyof typeof AzureCode];

/** The Kubernetes API could not be reached, or answered with a failure: one code per Status reason. */
export const KubernetesCode = {
  ClusterUnreachable: "ClusterUnreachable",
  /** A failure without a Status body. */
  KubernetesRequestFailed: "KubernetesRequestFailed",
  /** The client's discovery found no such kind in the group version: the API server does not serve it (no CRD). */
  KubernetesKindNotServed: "KubernetesKindNotServed",
  /** A Status without a reason this list knows. */
  KubernetesError: "KubernetesError",
  KubernetesUnauthorized: "KubernetesUnauthorized",
  KubernetesForbidden: "KubernetesForbidden",
  KubernetesNotFound: "KubernetesNotFound",
  KubernetesAlreadyExists: "KubernetesAlreadyExists",
  KubernetesConflict: "KubernetesConflict",
  KubernetesGone: "KubernetesGone",
  KubernetesInvalid: "KubernetesInvalid",
  KubernetesServerTimeout: "KubernetesServerTimeout",
  KubernetesTimeout: "KubernetesTimeout",
  KubernetesTooManyRequests: "KubernetesTooManyRequests",
  KubernetesBadRequest: "KubernetesBadRequest",
  KubernetesMethodNotAllowed: "KubernetesMethodNotAllowed",
  KubernetesNotAcceptable: "KubernetesNotAcceptable",
  KubernetesRequestEntityTooLarge: "KubernetesRequestEntityTooLarge",
  KubernetesUnsupportedMediaType: "KubernetesUnsupportedMediaType",
  KubernetesInternalError: "KubernetesInternalError",
  KubernetesExpired: "KubernetesExpired",
  KubernetesServiceUnavailable: "KubernetesServiceUnavailable",
} as const;
export type KubernetesCode = (typeof KubernetesCode)[keyof typeof KubernetesCode];

/** What a command acts on does not exist: the identity, binding or workload it names, or their namespace. */
export const IdentityCode = {
  IdentityNotFound: "IdentityNotFound",
  AzureIdentityNotFound: "AzureIdentityNotFound",
  BindingNotFound: "BindingNotFound",
  WorkloadNotFound: "WorkloadNotFound",
  NamespaceNotFound: "NamespaceNotFound",
} as const;
export type IdentityCode = (typeof IdentityCode)[keyof typeof IdentityCode];

/** podid install / uninstall could not put the runtime in place, or take it away. */
export const InstallCode = {
  AadPodIdentityNotInstalled: "AadPodIdentityNotInstalled",
  KubenetNotAllowed: "KubenetNotAllowed",
  RolloutTimeout: "RolloutTimeout",
  IdentitiesRemain: "IdentitiesRemain",
  /** podid's CRDs (with a schema) would make the API server drop pre-1.6 field spellings that objects still use. */
  LegacyFieldsWouldBePruned: "LegacyFieldsWouldBePruned",
} as const;
export type InstallCode = (typeof InstallCode)[keyof typeof InstallCode];

/** The in-cluster components (podid runtime mic|nmi) refuse to run. */
export const RuntimeCode = {
  KubenetNotSupported: "KubenetNotSupported",
  /** `podid runtime proxy --probe`: the workload identity proxy sidecar does not answer yet. */
  ProxyNotReady: "ProxyNotReady",
  /** The proxy runs without the environment the workload identity webhook injects. */
  ProxySetupFailed: "ProxySetupFailed",
} as const;
export type RuntimeCode = (typeof RuntimeCode)[keyof typeof RuntimeCode];

/** The local sandbox is not there, or refused. */
export const SandboxCode = {
  SandboxNotRunning: "SandboxNotRunning",
  SandboxUnreachable: "SandboxUnreachable",
  SandboxAdminFailed: "SandboxAdminFailed",
  SandboxStartTimeout: "SandboxStartTimeout",
  SandboxStartFailed: "SandboxStartFailed",
} as const;
export type SandboxCode = (typeof SandboxCode)[keyof typeof SandboxCode];

/** podid demo and its workload (podid runtime demo) did not show what they set out to show. */
export const DemoCode = {
  DemoSandboxStartFailed: "DemoSandboxStartFailed",
  DemoStepFailed: "DemoStepFailed",
  DemoIdentityMissing: "DemoIdentityMissing",
  DemoPodTimeout: "DemoPodTimeout",
  DemoTokenNotAcquired: "DemoTokenNotAcquired",
  DemoNotRefused: "DemoNotRefused",
  DemoTokenFailed: "DemoTokenFailed",
  DemoArmFailed: "DemoArmFailed",
  DemoWorkloadIdentityFailed: "DemoWorkloadIdentityFailed",
} as const;
export type DemoCode = (typeof DemoCode)[keyof typeof DemoCode];

/** podid migrate could not move (or move back) a workload, or found the cluster not ready for it. */
export const MigrateCode = {
  MigrationBlocked: "MigrationBlocked",
  NothingToMigrate: "NothingToMigrate",
  FederationNotPropagated: "FederationNotPropagated",
  VerificationFailed: "VerificationFailed",
  RolloutIncomplete: "RolloutIncomplete",
  IdentityNotDetached: "IdentityNotDetached",
  PodIdentityNotInstalled: "PodIdentityNotInstalled",
} as const;
export type MigrateCode = (typeof MigrateCode)[keyof typeof MigrateCode];

/** Anything thrown that was not a PodidError: a bug, or a failure nothing above classifies. */
export const UnexpectedCode = {
  Unexpected: "Unexpected",
} as const;
export type UnexpectedCode = (typeof UnexpectedCode)[keyof typeof UnexpectedCode];

/** The families by name (a test holds that every code is spelled once, as its key). */
export const CODE_FAMILIES = {
  usage: UsageCode,
  azure: AzureCode,
  kubernetes: KubernetesCode,
  identity: IdentityCode,
  install: InstallCode,
  runtime: RuntimeCode,
  sandbox: SandboxCode,
  demo: DemoCode,
  migrate: MigrateCode,
  unexpected: UnexpectedCode,
} as const;

export type ErrorCode = UsageCode | AzureCode | KubernetesCode | IdentityCode | InstallCode | RuntimeCode | SandboxCode | DemoCode | MigrateCode | UnexpectedCode;

/** The codes NotFoundError (exit 3) takes: those that say their subject does not exist end in NotFound. */
export type NotFoundCode = Extract<ErrorCode, `${string}NotFound`>;
