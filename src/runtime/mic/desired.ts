import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { computeTargetOfProviderId, type ComputeTarget } from "../../azure/provider-id.js";
import {
  AAD_POD_IDENTITY_API_VERSION,
  ASSIGNED_IDENTITY_DEFAULT_NAMESPACE,
  ASSIGNED_IDENTITY_FINALIZER,
  BINDING_LABEL,
  IdentityType,
  NODENAME_LABEL,
  assignedIdentityName,
  isNamespacedIdentity,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
} from "../../kube/aadpodidentity.js";

/**
 * MIC's desired state: which AzureAssignedIdentities should exist and which user-assigned identities each
 * scale set (or VM) needs, from snapshots of the caches. Pure: no I/O, no clock; same input, same output.
 */

export interface DesiredOptions {
  /** --forceNamespaced: pod, binding and identity must share a namespace (else per identity, by annotation). */
  forceNamespaced: boolean;
}

/** Something left out of the desired state, and why (logged by the caller; never blocks the rest). */
export interface Skipped {
  kind: "Pod" | "AzureIdentity" | "AzureIdentityBinding";
  namespace: string;
  name: string;
  reason: string;
}

/** A user-assigned identity some pod on a target needs. */
export interface NeededIdentity {
  /** As the AzureIdentity gives it. */
  resourceId: string;
  /** The AzureIdentity's clientID (to spot a deleted and re-created identity); may be empty. */
  clientId: string;
  /** Names of the AzureAssignedIdentities that need it. */
  assignedIdentities: string[];
}

export interface TargetNeeds {
  target: ComputeTarget;
  /** By lower-cased resource id. */
  identities: Map<string, NeededIdentity>;
}

export interface DesiredState {
  /** Sorted by namespace/name; status Created. */
  assigned: AzureAssignedIdentity[];
  /** By target id (lower-cased ARM id of the scale set or VM). */
  targets: Map<string, TargetNeeds>;
  /** Every known node's scale set or VM, by node name (for current AzureAssignedIdentities too). */
  nodeTargets: Map<string, ComputeTarget>;
  skipped: Skipped[];
}

/** Upstream's check (unanchored, case-insensitive): a type-0 identity must name a user-assigned identity. */
const USER_ASSIGNED_ID = /\/subscriptions\/.+?\/resourcegroups\/.+?\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/.+/i;

export function identityKey(o: { metadata: { namespace?: string; name: string } }): string {
  return `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** Early releases wrote ResourceID/ClientID; read both spellings (upstream upgrades such objects once). */
export function identitySpec(identity: AzureIdentity): { type: number; resourceID: string; clientID: string } {
  const spec = identity.spec as AzureIdentity["spec"] & { ResourceID?: string; ClientID?: string; Type?: number };
  return {
    type: spec.type ?? spec.Type ?? IdentityType.userAssignedMSI,
    resourceID: (spec.resourceID ?? spec.ResourceID ?? "").trim(),
    clientID: (spec.clientID ?? spec.ClientID ?? "").trim(),
  };
}

/** Why an AzureIdentity cannot be used, or undefined when it can. */
export function invalidIdentityReason(identity: AzureIdentity): string | undefined {
  const { type, resourceID } = identitySpec(identity);
  if (!Object.values<number>(IdentityType).includes(type)) return `unsupported identity type ${String(type)}`;
  if (type === IdentityType.userAssignedMSI && !USER_ASSIGNED_ID.test(resourceID)) {
    return `invalid resource id: "${resourceID}", must match /subscriptions/<subid>/resourcegroups/<resourcegroup>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`;
  }
  return undefined;
}

/** The embedded copy upstream keeps in an AzureAssignedIdentity: the whole object, minus server bookkeeping. */
function embedded<T extends AzureIdentity | AzureIdentityBinding>(object: T, kind: T["kind"]): T {
  const { managedFields: _m, ...metadata } = object.metadata;
  return { ...object, apiVersion: AAD_POD_IDENTITY_API_VERSION, kind, metadata } as T;
}

const byKey = (a: { metadata: { namespace?: string; name: string } }, b: { metadata: { namespace?: string; name: string } }) =>
  identityKey(a) < identityKey(b) ? -1 : identityKey(a) > identityKey(b) ? 1 : 0;

export function desired(
  pods: readonly V1Pod[],
  identities: readonly AzureIdentity[],
  bindings: readonly AzureIdentityBinding[],
  nodes: readonly V1Node[],
  options: DesiredOptions,
): DesiredState {
  const skipped: Skipped[] = [];
  const validIdentities = new Map<string, AzureIdentity>();
  for (const identity of [...identities].sort(byKey)) {
    const reason = invalidIdentityReason(identity);
    if (reason) skipped.push({ kind: "AzureIdentity", namespace: identity.metadata.namespace ?? "", name: identity.metadata.name, reason });
    else validIdentities.set(identityKey(identity), identity);
  }

  const nodeTargets = new Map<string, ComputeTarget>();
  const knownNodes = new Set<string>();
  for (const node of nodes) {
    const name = node.metadata?.name;
    if (!name) continue;
    knownNodes.add(name);
    const target = computeTargetOfProviderId(node.spec?.providerID);
    if (target) nodeTargets.set(name, target);
  }

  const bindingsBySelector = new Map<string, AzureIdentityBinding[]>();
  for (const binding of [...bindings].sort(byKey)) {
    const selector = binding.spec?.selector;
    if (!selector) continue;
    bindingsBySelector.set(selector, [...(bindingsBySelector.get(selector) ?? []), binding]);
  }

  const assigned = new Map<string, AzureAssignedIdentity>();
  const targets = new Map<string, TargetNeeds>();
  const podKey = (p: V1Pod) => `${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`;
  const sortedPods = [...pods].sort((a, b) => (podKey(a) < podKey(b) ? -1 : podKey(a) > podKey(b) ? 1 : 0));
  for (const pod of sortedPods) {
    const podName = pod.metadata?.name ?? "";
    const podNamespace = pod.metadata?.namespace ?? "default";
    const selector = pod.metadata?.labels?.[BINDING_LABEL];
    if (!selector) continue;
    const skipPod = (reason: string) => skipped.push({ kind: "Pod", namespace: podNamespace, name: podName, reason });
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) {
      skipPod("has no assigned node yet");
      continue;
    }
    if (pod.metadata?.deletionTimestamp) {
      skipPod("is terminating");
      continue;
    }
    if (!knownNodes.has(nodeName)) {
      skipPod(`its node ${nodeName} is not in the cluster`);
      continue;
    }
    const matched = bindingsBySelector.get(selector) ?? [];
    if (!matched.length) {
      skipPod(`no AzureIdentityBinding matches selector ${selector}`);
      continue;
    }
    for (const binding of matched) {
      const bindingNamespace = binding.metadata.namespace ?? "default";
      const identity = validIdentities.get(`${bindingNamespace}/${binding.spec.azureIdentity}`);
      if (!identity) {
        if (!identities.some((i) => identityKey(i) === `${bindingNamespace}/${binding.spec.azureIdentity}`)) {
          skipped.push({ kind: "AzureIdentityBinding", namespace: bindingNamespace, name: binding.metadata.name, reason: `identity ${bindingNamespace}/${binding.spec.azureIdentity} not found` });
        }
        continue;
      }
      const namespaced = options.forceNamespaced || isNamespacedIdentity(identity);
      if (namespaced && !(bindingNamespace === podNamespace && (identity.metadata.namespace ?? "default") === podNamespace)) continue;

      const { type, resourceID, clientID } = identitySpec(identity);
      const target = nodeTargets.get(nodeName);
      if (type === IdentityType.userAssignedMSI && !target) {
        skipPod(`its node ${nodeName} has no Azure scale set or VM providerID`);
        continue;
      }
      const name = assignedIdentityName(podName, podNamespace, identity.metadata.name);
      const namespace = namespaced ? (identity.metadata.namespace ?? "default") : ASSIGNED_IDENTITY_DEFAULT_NAMESPACE;
      const key = `${namespace}/${name}`;
      const existing = assigned.get(key);
      if (existing) {
        skipped.push({
          kind: "AzureIdentity",
          namespace: identity.metadata.namespace ?? "",
          name: identity.metadata.name,
          reason: `AzureIdentity ${identity.metadata.name} exists in both ${existing.spec.azureIdentityRef.metadata.namespace} and ${identity.metadata.namespace} namespace; ${existing.spec.azureIdentityRef.metadata.namespace}'s is used for pod ${podNamespace}/${podName}. Consider renaming it or enabling namespaced mode`,
        });
        continue;
      }
      assigned.set(key, {
        apiVersion: AAD_POD_IDENTITY_API_VERSION,
        kind: "AzureAssignedIdentity",
        metadata: { name, namespace, labels: { [NODENAME_LABEL]: nodeName }, finalizers: [ASSIGNED_IDENTITY_FINALIZER] },
        spec: {
          azureIdentityRef: embedded(identity, "AzureIdentity"),
          azureBindingRef: embedded(binding, "AzureIdentityBinding"),
          pod: podName,
          podNamespace,
          nodename: nodeName,
          replicas: null,
        },
        status: { status: "Created", availableReplicas: 1 },
      });
      if (type === IdentityType.userAssignedMSI && target) {
        const needs = targets.get(target.id) ?? { target, identities: new Map<string, NeededIdentity>() };
        targets.set(target.id, needs);
        const idKey = resourceID.toLowerCase();
        const need = needs.identities.get(idKey) ?? { resourceId: resourceID, clientId: clientID, assignedIdentities: [] };
        need.assignedIdentities.push(name);
        needs.identities.set(idKey, need);
      }
    }
  }
  return { assigned: [...assigned.values()].sort(byKey), targets, nodeTargets, skipped };
}
