import { bindingSpec } from "./spec.js";
import { BEHAVIOR_ANNOTATION, BEHAVIOR_NAMESPACED, namespaceOf, type AzureIdentity, type AzureIdentityBinding, type ObjectMeta } from "./types.js";

/**
 * The namespaced rule, one home for MIC, NMI and doctor. Upstream's IsNamespacedIdentity compares the Behavior
 * annotation's value exactly: "namespaced" is namespaced; "Namespaced", " namespaced" or "true" are not.
 */
export function isNamespacedIdentity(identity: { metadata: Pick<ObjectMeta, "annotations"> }): boolean {
  return identity.metadata.annotations?.[BEHAVIOR_ANNOTATION] === BEHAVIOR_NAMESPACED;
}

/** Whether the identity is matched only within its own namespace: --forceNamespaced, or its annotation. */
export function matchesOnlyOwnNamespace(identity: { metadata: Pick<ObjectMeta, "annotations"> }, forceNamespaced: boolean): boolean {
  return forceNamespaced || isNamespacedIdentity(identity);
}

/** Whether a pod of `podNamespace` may have the identity (NMI's side of the rule: it knows no binding). */
export function identityReaches(identity: AzureIdentity, podNamespace: string, forceNamespaced: boolean): boolean {
  return !matchesOnlyOwnNamespace(identity, forceNamespaced) || namespaceOf(identity) === podNamespace;
}

/** Whether MIC gives `identity`, through `binding`, to a pod of `podNamespace`: namespaced, all three share it. */
export function bindingReaches(binding: AzureIdentityBinding, identity: AzureIdentity, podNamespace: string, forceNamespaced: boolean): boolean {
  if (!identityReaches(identity, podNamespace, forceNamespaced)) return false;
  return !matchesOnlyOwnNamespace(identity, forceNamespaced) || namespaceOf(binding) === podNamespace;
}

/** The AzureIdentity a binding names: MIC looks for it in the binding's own namespace only. */
export function identityOfBinding(binding: AzureIdentityBinding, identities: readonly AzureIdentity[]): AzureIdentity | undefined {
  const name = bindingSpec(binding).azureIdentity;
  return identities.find((i) => i.metadata.name === name && namespaceOf(i) === namespaceOf(binding));
}
