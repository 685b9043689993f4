import type { KubernetesObject } from "@kubernetes/client-node";
import { AAD_POD_IDENTITY_API_VERSION, AAD_POD_IDENTITY_GROUP, RESOURCE_PLURALS } from "../../aadpodidentity/types.js";
import { IdentityService, type UserAssignedIdentity } from "../../azure/identities.js";
import type { ComputeTarget } from "../../azure/provider-id.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../../azure/resource-id.js";
import { RoleService } from "../../azure/roles.js";
import { ComputeIdentities, type ComputeIdentityState } from "../../azure/scale-sets.js";
import type { AzureSession } from "../../azure/session.js";
import { ArmCode, AzureCode, KubernetesCode, PodidError, UsageCode } from "../../errors/index.js";
import type { KubeSession } from "../../kube/session.js";
import { CheckSkipped } from "./model.js";

/** What the user asked doctor to look at. */
export interface DoctorScope {
  /** Undefined: all namespaces (-A). */
  namespace?: string;
  identity?: string;
  pod?: string;
  probe: boolean;
}

export interface DoctorInputs {
  scope: DoctorScope;
  /** Opens the cluster session; may throw (bad kubeconfig), which the cluster check reports. */
  openKube: () => KubeSession;
  /** Opens the Azure session; may throw (no subscription), which Azure checks turn into skipped. */
  openAzure: () => AzureSession;
  /** --cluster / -g; otherwise the AKS cluster is found from the nodes' scale sets. */
  cluster: { name?: string; resourceGroup?: string };
  /** --stuck-after: an AzureAssignedIdentity not Assigned for longer is reported (default 2m). */
  stuckAfterMs?: number;
}

type Header = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

/** The resource a kind is listed by, for the permission a skipped check names. */
const RESOURCES: Record<string, string> = {
  ...Object.fromEntries(Object.entries(RESOURCE_PLURALS).map(([kind, plural]) => [kind, `${plural}.${AAD_POD_IDENTITY_GROUP}`])),
  CustomResourceDefinition: "customresourcedefinitions.apiextensions.k8s.io",
  Deployment: "deployments.apps",
  DaemonSet: "daemonsets.apps",
  ReplicaSet: "replicasets.apps",
  NetworkPolicy: "networkpolicies.networking.k8s.io",
};
const resourceOf = (kind: string) => RESOURCES[kind] ?? `${kind.toLowerCase()}s`;

/**
 * The reads every check shares: each cluster and Azure read is made at most once, when a check first asks for it
 * (concurrent askers share the promise). A read that cannot be made throws CheckSkipped naming what is missing
 * (cannotRead, by the failure's typed code), so the asking check is reported as skipped rather than crashing the run.
 */
export class DoctorReads {
  private readonly memo = new Map<string, Promise<unknown>>();
  private kubeSession?: { session?: KubeSession; error?: unknown };
  private azureSession?: { session?: AzureSession; error?: unknown };
  private rolesService?: RoleService;

  constructor(protected readonly inputs: DoctorInputs) {}

  get scope(): DoctorScope {
    return this.inputs.scope;
  }

  get clusterRef(): { name?: string; resourceGroup?: string } {
    return this.inputs.cluster;
  }

  get stuckAfterMs(): number {
    return this.inputs.stuckAfterMs ?? 120_000;
  }

  /** Caches a read by key; concurrent callers share one request. */
  cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = load();
      this.memo.set(key, p);
    }
    return p;
  }

  /** The kubeconfig's session, or the error opening it (the cluster check reports it). */
  kubeOrError(): { session?: KubeSession; error?: unknown } {
    if (!this.kubeSession) {
      try {
        this.kubeSession = { session: this.inputs.openKube() };
      } catch (error) {
        this.kubeSession = { error };
      }
    }
    return this.kubeSession;
  }

  get kube(): KubeSession {
    const { session } = this.kubeOrError();
    if (!session) throw new CheckSkipped("the kubeconfig cannot be used (see check cluster)");
    return session;
  }

  get azure(): AzureSession {
    if (!this.azureSession) {
      try {
        this.azureSession = { session: this.inputs.openAzure() };
      } catch (error) {
        this.azureSession = { error };
      }
    }
    if (!this.azureSession.session) throw cannotRead(this.azureSession.error, "opening the Azure session");
    return this.azureSession.session;
  }

  // --- the cluster ---

  /** Lists a kind (all namespaces when namespace is undefined), cached; unreadable -> CheckSkipped. */
  list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
    return this.cached(`list|${apiVersion}|${kind}|${namespace ?? "*"}|${labelSelector ?? ""}`, async () => {
      try {
        return await this.kube.list<T>(apiVersion, kind, namespace, labelSelector);
      } catch (err) {
        throw cannotRead(err, `list ${resourceOf(kind)}${namespace ? ` in namespace ${namespace}` : " (all namespaces)"}`, apiVersion === AAD_POD_IDENTITY_API_VERSION);
      }
    });
  }

  read<T extends KubernetesObject>(header: Header): Promise<T | undefined> {
    return this.cached(`read|${header.apiVersion}|${header.kind}|${header.metadata.namespace ?? ""}|${header.metadata.name}`, async () => {
      try {
        return await this.kube.read<T>(header);
      } catch (err) {
        throw cannotRead(err, `get ${resourceOf(header.kind)}${header.metadata.namespace ? ` in namespace ${header.metadata.namespace}` : ""}`);
      }
    });
  }

  /** Events in a namespace (all namespaces when undefined), e.g. MIC's Warning Events on AzureAssignedIdentities. */
  events(namespace?: string): Promise<KubernetesObject[]> {
    return this.list<KubernetesObject>("v1", "Event", namespace);
  }

  /** The tail of a pod's log, cached. */
  podLog(namespace: string, name: string, tailLines = 200): Promise<string> {
    return this.cached(`log|${namespace}|${name}|${tailLines}`, async () => {
      try {
        return await this.kube.podLog(namespace, name, { tailLines });
      } catch (err) {
        throw cannotRead(err, `get pods/log in namespace ${namespace}`);
      }
    });
  }

  // --- Azure ---

  get roles(): RoleService {
    this.rolesService ??= new RoleService(this.azure);
    return this.rolesService;
  }

  /** Whether the principal may perform `action` at `scope` (RoleService.isAllowed; custom roles count), cached. */
  isAllowed(principalId: string, action: string, scope: string): Promise<boolean> {
    return this.cached(`allowed|${principalId}|${action}|${scope.toLowerCase()}`, async () => {
      try {
        return await this.roles.isAllowed(principalId, action, scope);
      } catch (err) {
        throw cannotRead(err, "read role assignments and role definitions");
      }
    });
  }

  /** The user-assigned identity at a resource id, or undefined when it does not exist. */
  azureIdentity(resourceId: string): Promise<UserAssignedIdentity | undefined> {
    return this.cached(`identity|${resourceId.toLowerCase()}`, async () => {
      const id = parseResourceId(resourceId, USER_ASSIGNED_IDENTITY_TYPE);
      try {
        if (id.subscriptionId.toLowerCase() !== this.azure.subscriptionId.toLowerCase()) {
          throw new CheckSkipped(`identity ${resourceId} is in subscription ${id.subscriptionId}, not the session's ${this.azure.subscriptionId}; run with --subscription ${id.subscriptionId}`);
        }
        return await new IdentityService(this.azure).get(id.resourceGroup, id.name);
      } catch (err) {
        throw cannotRead(err, "read user-assigned identities");
      }
    });
  }

  /** The user-assigned identities attached to a scale set or VM (what MIC wrote), cached; one attempt, no retry budget. */
  computeIdentities(target: ComputeTarget): Promise<ComputeIdentityState> {
    return this.cached(`compute|${target.id}`, async () => {
      try {
        return await new ComputeIdentities(this.azure, { maxRetryMs: 0 }).get(target);
      } catch (err) {
        throw cannotRead(err, `read ${target.kind === "scaleSet" ? "Microsoft.Compute/virtualMachineScaleSets" : "Microsoft.Compute/virtualMachines"}`);
      }
    });
  }
}

/**
 * Turns a failed read into CheckSkipped naming what is missing: the cluster (unreachable), the CRDs, a
 * Kubernetes permission, an Azure credential or an Azure action. Anything else is rethrown.
 */
export function cannotRead(err: unknown, what: string, aadPodIdentityKind = false): unknown {
  if (err instanceof CheckSkipped) return err;
  if (!(err instanceof PodidError)) return err;
  switch (err.code) {
    case KubernetesCode.ClusterUnreachable:
      return new CheckSkipped("cannot reach the cluster (see check cluster)");
    case KubernetesCode.KubernetesForbidden:
      return new CheckSkipped(`not allowed to ${what}: ${err.message}`, `kubernetes: ${what}`);
    case KubernetesCode.KubernetesUnauthorized:
      return new CheckSkipped(`the cluster refused the kubeconfig's credentials (see check cluster)`);
    case KubernetesCode.KubernetesRequestFailed:
    case KubernetesCode.KubernetesKindNotServed:
    case KubernetesCode.KubernetesNotFound:
      if (aadPodIdentityKind) return new CheckSkipped(`the cluster does not serve ${AAD_POD_IDENTITY_API_VERSION} (see check crds)`);
      return err;
    case AzureCode.AzureCredentialUnavailable:
      return new CheckSkipped(`no Azure credential: ${err.message}`, "an Azure sign-in (az login, or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)");
    case UsageCode.MissingSubscription:
      return new CheckSkipped("no Azure subscription given: pass --subscription or set AZURE_SUBSCRIPTION_ID");
    case ArmCode.AuthorizationFailed:
    case ArmCode.LinkedAuthorizationFailed: {
      const action = (err.details?.action as string | undefined) ?? what;
      return new CheckSkipped(`not allowed to ${what}: ${err.message}`, `azure: ${action}`);
    }
    default:
      return err;
  }
}
