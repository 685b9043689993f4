import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { computeTargetOfProviderId, type ComputeTarget } from "../azure/provider-id.js";
import { identityInTwoNamespaces, identityNotFound, noBindingForSelector } from "./contract/messages.js";
import { bindingReaches, matchesOnlyOwnNamespace } from "./matching.js";
import { podKey } from "./pods.js";
import { bindingSpec, identitySpec, invalidIdentityReason } from "./spec.js";
import {
  AAD_POD_IDENTITY_API_VERSION,
  ASSIGNED_IDENTITY_DEFAULT_NAMESPACE,
  ASSIGNED_IDENTITY_FINALIZER,
  BINDING_LABEL,
  IdentityType,
  NODENAME_LABEL,
  assignedIdentityName,
  namespaceOf,
  objectKey,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
} from "./types.js";

/**
 * MIC's desired state: which AzureAssignedIdentities should exist and which user-assigned identities each
 * scale set (or VM) needs, from snapshots of the caches. Pure: no I/O, no clock; same input, same output.
 * Doctor asks the same function what MIC would assign.
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

/** The embedded copy upstream keeps in an AzureAssignedIdentity: the whole object, minus server bookkeeping. */
function embedded<T extends AzureIdentity | AzureIdentityBinding>(object: T, kind: T["kind"]): T {
  const { managedFields: _m, ...metadata } = object.metadata;
  return { ...object, apiVersion: AAD_POD_IDENTITY_API_VERSION, kind, metadata } as T;
}

type Keyed = { metadata: { namespace?: string; name: string } };
const byKey = (a: Keyed, b: Keyed) => (objectKey(a) < objectKey(b) ? -1 : objectKey(a) > objectKey(b) ? 1 : 0);

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
    else validIdentities.set(objectKey(identity), identity);
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
    const { selector } = bindingSpec(binding);
    if (!selector) continue;
    bindingsBySelector.set(selector, [...(bindingsBySelector.get(selector) ?? []), binding]);
  }

  const assigned = new Map<string, AzureAssignedIdentity>();
  const targets = new Map<string, TargetNeeds>();
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
      skipPod(noBindingForSelector(selector));
      continue;
    }
    for (const binding of matched) {
      const bindingNamespace = namespaceOf(binding);
      const wanted = `${bindingNamespace}/${bindingSpec(binding).azureIdentity}`;
      const identity = validIdentities.get(wanted);
      if (!identity) {
        if (!identities.some((i) => objectKey(i) === wanted)) {
          skipped.push({ kind: "AzureIdentityBinding", namespace: bindingNamespace, name: binding.metadata.name, reason: identityNotFound(wanted) });
        }
        continue;
      }
      if (!bindingReaches(binding, identity, podNamespace, options.forceNamespaced)) continue;
      const namespaced = matchesOnlyOwnNamespace(identity, options.forceNamespaced);

      const { type, resourceID, clientID } = identitySpec(identity);
      const target = nodeTargets.get(nodeName);
      if (type === IdentityType.userAssignedMSI && !target) {
        skipPod(`its node ${nodeName} has no Azure scale set or VM providerID`);
        continue;
      }
      const name = assignedIdentityName(podName, podNamespace, identity.metadata.name);
      const namespace = namespaced ? namespaceOf(identity) : ASSIGNED_IDENTITY_DEFAULT_NAMESPACE;
      const key = `${namespace}/${name}`;
      const existing = assigned.get(key);
      if (existing) {
        skipped.push({
          kind: "AzureIdentity",
          namespace: identity.metadata.namespace ?? "",
          name: identity.metadata.name,
          reason: identityInTwoNamespaces({ name: identity.metadata.name, used: existing.spec.azureIdentityRef.metadata.namespace ?? "", other: identity.metadata.namespace ?? "", pod: `${podNamespace}/${podName}` }),
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
