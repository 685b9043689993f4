import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import {
  AAD_POD_IDENTITY_API_VERSION,
  AAD_POD_IDENTITY_GROUP,
  RESOURCE_PLURALS,
  type AadPodIdentityKind,
  type AssignedIdentityState,
  type AzureAssignedIdentity,
} from "../aadpodidentity/types.js";
import { fromKubeError, isKubeConflict, isKubeNotFound } from "./errors.js";
import type { WatchedKind } from "./informer.js";
import type { KubeSession } from "./session.js";

const crd = (kind: AadPodIdentityKind): WatchedKind => ({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind, path: `/apis/${AAD_POD_IDENTITY_GROUP}/v1/${RESOURCE_PLURALS[kind]}` });

export const AZURE_IDENTITY_KIND = crd("AzureIdentity");
export const AZURE_IDENTITY_BINDING_KIND = crd("AzureIdentityBinding");
export const AZURE_ASSIGNED_IDENTITY_KIND = crd("AzureAssignedIdentity");
export const AZURE_POD_IDENTITY_EXCEPTION_KIND = crd("AzurePodIdentityException");

/** Event source component, as upstream records it. */
export const EVENT_COMPONENT = "aadpodidentity.k8s.io";

/**
 * The writes MIC makes to AzureAssignedIdentities. The CRD has no status subresource: status is written on
 * create and changed with a JSON patch of /status/status, as upstream does.
 */
export class AssignedIdentityWriter {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  /** `fence` runs before every write and throws to refuse it (MIC: only while it leads). */
  constructor(
    private readonly kube: KubeSession,
    private readonly fence: () => void = () => undefined,
  ) {
    this.custom = kube.config.makeApiClient(CustomObjectsApi);
    this.core = kube.config.makeApiClient(CoreV1Api);
  }

  private ref(aai: AzureAssignedIdentity) {
    return { group: AAD_POD_IDENTITY_GROUP, version: "v1", plural: RESOURCE_PLURALS.AzureAssignedIdentity, namespace: aai.metadata.namespace ?? "default", name: aai.metadata.name };
  }

  /** POSTs it; "exists" when one of that name is there already (a cache that has not caught up). */
  async create(aai: AzureAssignedIdentity): Promise<"created" | "exists"> {
    const { name: _name, ...ref } = this.ref(aai);
    this.fence();
    try {
      await this.custom.createNamespacedCustomObject({ ...ref, body: aai });
      return "created";
    } catch (err) {
      if (isKubeConflict(err)) return "exists";
      throw fromKubeError(err, `creating AzureAssignedIdentity ${ref.namespace}/${aai.metadata.name}`, this.kube.server);
    }
  }

  /** PUTs it with the resourceVersion it carries (optimistic concurrency). */
  async replace(aai: AzureAssignedIdentity): Promise<void> {
    this.fence();
    try {
      await this.custom.replaceNamespacedCustomObject({ ...this.ref(aai), body: aai });
    } catch (err) {
      throw fromKubeError(err, `updating AzureAssignedIdentity ${aai.metadata.namespace}/${aai.metadata.name}`, this.kube.server);
    }
  }

  async setStatus(aai: AzureAssignedIdentity, status: AssignedIdentityState): Promise<void> {
    const body = aai.status ? [{ op: "replace", path: "/status/status", value: status }] : [{ op: "add", path: "/status", value: { status, availableReplicas: 1 } }];
    this.fence();
    try {
      await this.custom.patchNamespacedCustomObject({ ...this.ref(aai), body }, setHeaderOptions("Content-Type", PatchStrategy.JsonPatch));
    } catch (err) {
      if (isKubeNotFound(err)) return;
      throw fromKubeError(err, `setting AzureAssignedIdentity ${aai.metadata.namespace}/${aai.metadata.name} to ${status}`, this.kube.server);
    }
  }

  /** Marks it Unassigned, drops the finalizer, deletes it. Gone already counts as done. */
  async remove(aai: AzureAssignedIdentity): Promise<void> {
    const what = `deleting AzureAssignedIdentity ${aai.metadata.namespace}/${aai.metadata.name}`;
    const gone = (err: unknown) => {
      if (!isKubeNotFound(err)) throw fromKubeError(err, what, this.kube.server);
    };
    this.fence();
    const patched = await this.custom
      .patchNamespacedCustomObject({ ...this.ref(aai), body: { metadata: { finalizers: null }, status: { status: "Unassigned" } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch))
      .then(() => true, (err: unknown) => gone(err));
    if (!patched) return;
    this.fence();
    await this.custom.deleteNamespacedCustomObject(this.ref(aai)).catch(gone);
  }

  /** Records a core/v1 Event on the object; best effort (an event that cannot be written is not a failure). */
  async event(aai: AzureAssignedIdentity, type: "Normal" | "Warning", reason: string, message: string): Promise<boolean> {
    const namespace = aai.metadata.namespace ?? "default";
    const now = new Date();
    this.fence();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${aai.metadata.name.slice(0, 200)}.`, namespace },
          involvedObject: { apiVersion: aai.apiVersion, kind: aai.kind, name: aai.metadata.name, namespace, uid: aai.metadata.uid, resourceVersion: aai.metadata.resourceVersion },
          reason,
          message,
          type,
          source: { component: EVENT_COMPONENT },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      return true;
    } catch {
      return false;
    }
  }
}
