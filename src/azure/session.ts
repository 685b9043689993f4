import type { TokenCredential } from "@azure/identity";
import { createPipelineRequest } from "@azure/core-rest-pipeline";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import type { ContainerServiceClient } from "@azure/arm-containerservice";
import type { ComputeManagementClient } from "@azure/arm-compute";
import type { Cloud } from "./cloud.js";
import { azureTarget, type AzureTargetOptions } from "./target.js";
import { armClientOptions, azureCredential } from "./credential.js";

/** One signed-in view of one subscription: the cloud, the credential, and lazily made ARM clients. */
export class AzureSession {
  private msiClient?: ManagedServiceIdentityClient;
  private authClient?: AuthorizationManagementClient;
  private aksClient?: ContainerServiceClient;
  private computeClient?: ComputeManagementClient;

  constructor(
    readonly cloud: Cloud,
    readonly credential: TokenCredential,
    readonly subscriptionId: string,
  ) {}

  private get options() {
    return armClientOptions(this.cloud);
  }

  get msi(): ManagedServiceIdentityClient {
    return (this.msiClient ??= new ManagedServiceIdentityClient(this.credential, this.subscriptionId, this.options));
  }

  get authorization(): AuthorizationManagementClient {
    return (this.authClient ??= new AuthorizationManagementClient(this.credential, this.subscriptionId, this.options));
  }

  // The container-service and compute SDKs (compute is ARM's largest) load only in the commands that read clusters
  // or scale sets: identity list, bind and the like never pay for them.
  async containerService(): Promise<ContainerServiceClient> {
    const { ContainerServiceClient } = await import("@azure/arm-containerservice");
    return (this.aksClient ??= new ContainerServiceClient(this.credential, this.subscriptionId, this.options));
  }

  async compute(): Promise<ComputeManagementClient> {
    const { ComputeManagementClient } = await import("@azure/arm-compute");
    return (this.computeClient ??= new ComputeManagementClient(this.credential, this.subscriptionId, this.options));
  }

  /** Resource group names, for prompts (no management client for groups is among podid's packages). */
  async resourceGroupNames(): Promise<string[]> {
    const response = await this.msi.sendRequest(
      createPipelineRequest({ url: `${this.cloud.resourceManager}${this.subscriptionScope}/resourcegroups?api-version=2021-04-01`, method: "GET" }),
    );
    const body = JSON.parse(response.bodyAsText ?? "{}") as { value?: { name: string }[] };
    return (body.value ?? []).map((g) => g.name).sort();
  }

  get subscriptionScope(): string {
    return `/subscriptions/${this.subscriptionId}`;
  }

  resourceGroupScope(group: string): string {
    return `${this.subscriptionScope}/resourceGroups/${group}`;
  }
}

export interface SessionOptions extends AzureTargetOptions {
  credential?: TokenCredential;
}

export function openAzureSession(options: SessionOptions = {}): AzureSession {
  const { cloud, subscriptionId } = azureTarget(options);
  return new AzureSession(cloud, options.credential ?? azureCredential(cloud), subscriptionId);
}
