import { Agent } from "node:http";
import type { VirtualMachineScaleSetUpdate } from "@azure/arm-compute";
import { rawRequest, type RawResponse } from "./raw-http.js";
import type { AzureSandbox } from "./azure-sandbox.js";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1OwnerReference, type V1Pod } from "@kubernetes/client-node";
import { AAD_POD_IDENTITY_GROUP, AAD_POD_IDENTITY_API_VERSION, type AzureIdentitySpec } from "../../src/aadpodidentity/types.js";

/** Objects MIC would write, created directly so NMI tests do not depend on MIC. */
export class NmiWorld {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly apps: AppsV1Api;

  constructor(
    kc: KubeConfig,
    readonly node: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  /**
   * A pod on the node with status.podIP set through the status subresource, as the kubelet does. Labelled for a
   * binding unless told otherwise (NMI answers unlabelled pods at once: no identity can come for them).
   */
  async pod(namespace: string, name: string, ip: string, labels: Record<string, string> = { aadpodidbinding: "nmi-test" }, node = this.node, ownerReferences?: V1OwnerReference[]): Promise<V1Pod> {
    const created = await this.core.createNamespacedPod({ namespace, body: { metadata: { name, namespace, labels, ownerReferences }, spec: { nodeName: node, containers: [{ name: "app", image: "app:1" }] } } });
    return this.core.replaceNamespacedPodStatus({ name, namespace, body: { ...created, status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } } });
  }

  async identity(namespace: string, name: string, spec: AzureIdentitySpec, annotations: Record<string, string> = {}): Promise<Record<string, unknown>> {
    return (await this.custom.createNamespacedCustomObject({
      group: AAD_POD_IDENTITY_GROUP,
      version: "v1",
      namespace,
      plural: "azureidentities",
      body: { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name, namespace, annotations }, spec },
    })) as Record<string, unknown>;
  }

  /**
   * An AzureAssignedIdentity as MIC names and labels it, in the given state, with the binding MIC would have matched:
   * its selector is the pod's aadpodidbinding label now (NMI honours an assignment only while the pod carries it).
   */
  async assign(pod: { namespace: string; name: string }, identity: Record<string, unknown>, status: "Created" | "Assigned" | "Unassigned", node = this.node): Promise<string> {
    const idMeta = identity.metadata as { name: string; namespace?: string };
    const name = `${pod.name}-${pod.namespace}-${idMeta.name}`;
    // (A pod that is not there: an assignment MIC would not make, kept for tests of what is left behind.)
    const live = await this.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name }).catch(() => undefined);
    const selector = live?.metadata?.labels?.aadpodidbinding;
    const binding = { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentityBinding", metadata: { name: `${idMeta.name}-binding`, namespace: idMeta.namespace ?? "default" }, spec: { azureIdentity: idMeta.name, selector } };
    await this.custom.createNamespacedCustomObject({
      group: AAD_POD_IDENTITY_GROUP,
      version: "v1",
      namespace: "default",
      plural: "azureassignedidentities",
      body: {
        apiVersion: AAD_POD_IDENTITY_API_VERSION,
        kind: "AzureAssignedIdentity",
        metadata: { name, namespace: "default", labels: { nodename: node } },
        spec: { azureIdentityRef: identity, azureBindingRef: binding, pod: pod.name, podNamespace: pod.namespace, nodename: node },
        status: { status, availableReplicas: 1 },
      },
    });
    return name;
  }

  async setAssignedStatus(name: string, status: "Created" | "Assigned" | "Unassigned"): Promise<void> {
    const current = (await this.custom.getNamespacedCustomObject({ group: AAD_POD_IDENTITY_GROUP, version: "v1", namespace: "default", plural: "azureassignedidentities", name })) as Record<string, unknown>;
    await this.custom.replaceNamespacedCustomObject({
      group: AAD_POD_IDENTITY_GROUP,
      version: "v1",
      namespace: "default",
      plural: "azureassignedidentities",
      name,
      body: { ...current, status: { status, availableReplicas: 1 } },
    });
  }

  /**
   * A Deployment and the ReplicaSet it controls, as the controller-manager makes them (no pods: the test creates
   * those): the owner reference a pod of that ReplicaSet carries.
   */
  async deploymentChain(namespace: string, deployment: string, replicaSet: string): Promise<V1OwnerReference> {
    const apps = this.apps;
    const spec = (app: string) => ({ replicas: 1, selector: { matchLabels: { app } }, template: { metadata: { labels: { app } }, spec: { containers: [{ name: "app", image: "app:1" }] } } });
    const d = await apps.createNamespacedDeployment({ namespace, body: { metadata: { name: deployment, namespace }, spec: spec(deployment) } });
    const owner = (kind: string, name: string, uid: string): V1OwnerReference => ({ apiVersion: "apps/v1", kind, name, uid, controller: true, blockOwnerDeletion: true });
    // As the Deployment controller makes it: the template's labels, so the Deployment's selector matches it.
    const labels = { app: deployment, "pod-template-hash": replicaSet.split("-").pop()! };
    const rs = await apps.createNamespacedReplicaSet({ namespace, body: { metadata: { name: replicaSet, namespace, labels, ownerReferences: [owner("Deployment", deployment, d.metadata!.uid!)] }, spec: spec(deployment) } });
    return owner("ReplicaSet", replicaSet, rs.metadata!.uid!);
  }

  async exception(namespace: string, name: string, podLabels: Record<string, string>): Promise<void> {
    await this.custom.createNamespacedCustomObject({
      group: AAD_POD_IDENTITY_GROUP,
      version: "v1",
      namespace,
      plural: "azurepodidentityexceptions",
      body: { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzurePodIdentityException", metadata: { name, namespace }, spec: { podLabels } },
    });
  }
}

/** A plain HTTP GET that leaves from `from` (a pod's address), as a pod's client would; the path is sent as written. */
export function getFrom(from: string, url: string, headers: Record<string, string> = {}): Promise<RawResponse & { json: any }> {
  const rawPath = url.slice(url.indexOf("/", url.indexOf("//") + 2));
  return rawRequest(url.replace(/\\/g, "/"), { headers, localAddress: from, rawPath });
}

/** An http.Agent whose connections leave from a pod's address (for SDK clients' httpClient). */
export const agentFrom = (localAddress: string) => new Agent({ localAddress, keepAlive: false });

export interface NodeIdentity {
  id: string;
  clientId: string;
  principalId: string;
  /** The AzureIdentity (namespace default, same name); {} for a node-only identity. */
  object: Record<string, unknown>;
}

/**
 * User-assigned identities made in the sandbox, attached to the node scale set in one PATCH, each with its
 * AzureIdentity — except those named in `nodeOnly`, which are on the node only (as the kubelet identity is).
 */
export async function attachedIdentities(sb: AzureSandbox, world: NmiWorld, names: string[], nodeOnly: string[] = []): Promise<NodeIdentity[]> {
  const out: NodeIdentity[] = [];
  for (const name of names) {
    const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, name, { location: "eastus" });
    const object = nodeOnly.includes(name) ? {} : await world.identity("default", name, { type: 0, resourceID: created.id!, clientID: created.clientId! });
    out.push({ id: created.id!, clientId: created.clientId!, principalId: created.principalId!, object });
  }
  const patch: VirtualMachineScaleSetUpdate = { identity: { type: "UserAssigned", userAssignedIdentities: Object.fromEntries(out.map((i) => [i.id, {}])) } };
  await sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(sb.seed.nodeResourceGroup, sb.seed.vmssName, patch);
  return out;
}
