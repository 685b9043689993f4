import {
  AAD_POD_IDENTITY_API_VERSION,
  BEHAVIOR_ANNOTATION,
  BEHAVIOR_NAMESPACED,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from "../aadpodidentity/types.js";
import { loadTemplate } from "./templates.js";

/** The name podid gives an identity's binding when none is given. */
export function bindingNameFor(identityName: string): string {
  return `${identityName}-binding`;
}

export interface IdentityValues {
  name: string;
  namespace: string;
  resourceId: string;
  clientId: string;
  /** Match only pods and bindings of this namespace (upstream's namespaced behaviour). */
  namespaced?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function withMeta<T extends { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } }>(
  object: T,
  values: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> },
): T {
  object.metadata = {
    ...object.metadata,
    name: values.name,
    namespace: values.namespace,
    labels: { ...object.metadata.labels, ...values.labels },
    ...(values.annotations && Object.keys(values.annotations).length ? { annotations: { ...values.annotations } } : {}),
  } as T["metadata"];
  return object;
}

export function renderAzureIdentity(values: IdentityValues): AzureIdentity {
  const object = withMeta(loadTemplate<AzureIdentity>("identity/azureidentity.yaml"), {
    ...values,
    annotations: { ...values.annotations, ...(values.namespaced ? { [BEHAVIOR_ANNOTATION]: BEHAVIOR_NAMESPACED } : {}) },
  });
  object.apiVersion = AAD_POD_IDENTITY_API_VERSION;
  object.spec = { ...object.spec, resourceID: values.resourceId, clientID: values.clientId };
  return object;
}

export interface BindingValues {
  name: string;
  namespace: string;
  identityName: string;
  selector: string;
  labels?: Record<string, string>;
}

export function renderAzureIdentityBinding(values: BindingValues): AzureIdentityBinding {
  const object = withMeta(loadTemplate<AzureIdentityBinding>("identity/azureidentitybinding.yaml"), values);
  object.spec = { ...object.spec, azureIdentity: values.identityName, selector: values.selector };
  return object;
}

export interface ExceptionValues {
  name: string;
  namespace: string;
  podLabels: Record<string, string>;
}

export function renderAzurePodIdentityException(values: ExceptionValues): AzurePodIdentityException {
  const object = withMeta(loadTemplate<AzurePodIdentityException>("identity/azurepodidentityexception.yaml"), values);
  object.spec = { podLabels: { ...values.podLabels } };
  return object;
}
