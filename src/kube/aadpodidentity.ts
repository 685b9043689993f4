/** The aadpodidentity.k8s.io/v1 resources, typed with the canonical camelCase field names of v1. */
export const AAD_POD_IDENTITY_GROUP = "aadpodidentity.k8s.io";
export const AAD_POD_IDENTITY_API_VERSION = `${AAD_POD_IDENTITY_GROUP}/v1`;
/** The pod label whose value is matched against a binding's selector. */
export const BINDING_LABEL = "aadpodidbinding";
/** On an AzureIdentity: match only within its own namespace. */
export const BEHAVIOR_ANNOTATION = "aadpodidentity.k8s.io/Behavior";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const FIELD_MANAGER = "podid";

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
