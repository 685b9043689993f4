/**
 * The aadpodidentity.k8s.io/v1 resources, typed with the canonical camelCase field names of v1 (the spellings of
 * releases before 1.6 are read through spec.ts).
 */
export const AAD_POD_IDENTITY_GROUP = "aadpodidentity.k8s.io";
export const AAD_POD_IDENTITY_API_VERSION = `${AAD_POD_IDENTITY_GROUP}/v1`;
/** The pod label whose value is matched against a binding's selector. */
export const BINDING_LABEL = "aadpodidbinding";
/** On an AzureIdentity: match only within its own namespace when its value is exactly "namespaced" (see matching.ts). */
export const BEHAVIOR_ANNOTATION = "aadpodidentity.k8s.io/Behavior";
export const BEHAVIOR_NAMESPACED = "namespaced";

/** The four kinds, and the plural each is served under. */
export const RESOURCE_PLURALS = {
  AzureIdentity: "azureidentities",
  AzureIdentityBinding: "azureidentitybindings",
  AzureAssignedIdentity: "azureassignedidentities",
  AzurePodIdentityException: "azurepodidentityexceptions",
} as const;
export type AadPodIdentityKind = keyof typeof RESOURCE_PLURALS;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  [other: string]: unknown;
}

export interface KubeObject<Spec = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
}

export const IdentityType = { userAssignedMSI: 0, servicePrincipal: 1, servicePrincipalCertificate: 2 } as const;

export interface AzureIdentitySpec {
  type: number;
  resourceID?: string;
  clientID?: string;
  clientPassword?: { name: string; namespace: string };
  tenantID?: string;
  auxiliaryTenantIDs?: string[];
  adEndpoint?: string;
  adResourceID?: string;
}

export interface AzureIdentityBindingSpec {
  azureIdentity: string;
  selector: string;
  weight?: number;
}

export interface AzurePodIdentityExceptionSpec {
  podLabels: Record<string, string>;
}

export type AzureIdentity = KubeObject<AzureIdentitySpec> & { kind: "AzureIdentity" };
export type AzureIdentityBinding = KubeObject<AzureIdentityBindingSpec> & { kind: "AzureIdentityBinding" };
export type AzurePodIdentityException = KubeObject<AzurePodIdentityExceptionSpec> & { kind: "AzurePodIdentityException" };

/** Label MIC puts on every AzureAssignedIdentity: the node its pod runs on (NMI watches by it). */
export const NODENAME_LABEL = "nodename";
/** Finalizer MIC adds to every AzureAssignedIdentity, so a deleted one is unassigned before it goes. */
export const ASSIGNED_IDENTITY_FINALIZER = "azureassignedidentity.finalizers.aadpodidentity.k8s.io";
/** Where AzureAssignedIdentities live outside namespaced mode (upstream's backward-compatible choice). */
export const ASSIGNED_IDENTITY_DEFAULT_NAMESPACE = "default";

export type AssignedIdentityState = "Created" | "Assigned" | "Unassigned";

export interface AzureAssignedIdentitySpec {
  azureIdentityRef: AzureIdentity;
  azureBindingRef: AzureIdentityBinding;
  pod: string;
  podNamespace: string;
  /** All lower-case, as upstream spells it. */
  nodename: string;
  replicas?: number | null;
}

export type AzureAssignedIdentity = KubeObject<AzureAssignedIdentitySpec> & {
  kind: "AzureAssignedIdentity";
  status?: { status?: AssignedIdentityState | ""; availableReplicas?: number };
};

/** Upstream's name: `<pod>-<podNamespace>-<identityName>` (the middle part is the POD's namespace). */
export function assignedIdentityName(pod: string, podNamespace: string, identityName: string): string {
  return `${pod}-${podNamespace}-${identityName}`;
}

/** An object's namespace, "default" when it has none (as upstream reads one written without). */
export const namespaceOf = (o: { metadata?: { namespace?: string } }): string => o.metadata?.namespace ?? "default";

/** `namespace/name`, the key objects are sorted and compared by. */
export const objectKey = (o: { metadata?: { namespace?: string; name?: string } }): string => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
