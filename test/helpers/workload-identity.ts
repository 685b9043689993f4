import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { ClientAssertionCredential, WorkloadIdentityCredential } from "@azure/identity";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { CoreV1Api } from "@kubernetes/client-node";
import { sandboxAdmin } from "../../src/sandbox/admin-client.js";
import { rawRequest, type RawResponse } from "./raw-http.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "./sandbox-env.js";

export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

export interface Identity {
  name: string;
  id: string;
  clientId: string;
  principalId: string;
}

/**
 * A sandbox started through the CLI for workload identity tests, with the real clients: ARM (as the sandbox's Owner
 * principal), the cluster, and what a test needs to switch the cluster to workload identity, make identities,
 * federate them with ServiceAccounts, ask Entra ID for tokens and move the sandbox clock.
 */
export class WorkloadIdentitySandbox {
  readonly clients: ReturnType<typeof sandboxClients>;
  readonly aks: ContainerServiceClient;
  readonly core: CoreV1Api;
  readonly work = mkdtempSync(join(tmpdir(), "podid-wi-"));
  issuer = "";

  private constructor(readonly sb: SandboxFixture) {
    this.clients = sandboxClients(sb);
    this.aks = new ContainerServiceClient(this.clients.credential, sb.info.subscriptionId, this.armOptions);
    this.core = this.clients.kc.makeApiClient(CoreV1Api);
  }

  static async start(options: { nodes?: number } = {}): Promise<WorkloadIdentitySandbox> {
    return new WorkloadIdentitySandbox(await startSandbox({ nodes: options.nodes ?? 1 }));
  }

  get info() {
    return this.sb.info;
  }

  get armOptions() {
    return { endpoint: this.sb.info.endpoints.resourceManager, credentialScopes: [`${this.sb.info.endpoints.activeDirectoryResourceId}.default`] };
  }

  /** The sandbox CA, for raw HTTPS requests. */
  get ca(): string {
    return readFileSync(join(this.sb.dir, "ca.pem"), "utf8");
  }

  get armScope(): string {
    return `${this.sb.info.endpoints.activeDirectoryResourceId}.default`;
  }

  /** What `az aks update --enable-oidc-issuer --enable-workload-identity` does: GET, then PUT of the whole cluster. */
  async enableWorkloadIdentity(): Promise<string> {
    const { resourceGroup, clusterName } = this.sb.info;
    const cluster = await this.aks.managedClusters.get(resourceGroup, clusterName);
    const updated = await this.aks.managedClusters.beginCreateOrUpdateAndWait(resourceGroup, clusterName, {
      ...cluster,
      oidcIssuerProfile: { enabled: true },
      securityProfile: { ...cluster.securityProfile, workloadIdentity: { enabled: true } },
    });
    this.issuer = updated.oidcIssuerProfile!.issuerURL!;
    return this.issuer;
  }

  async identity(options: { readerOnNodeGroup?: boolean } = {}): Promise<Identity> {
    const name = `wi-${randomUUID().slice(0, 8)}`;
    const created = await this.clients.msi.userAssignedIdentities.createOrUpdate(this.sb.info.resourceGroup, name, { location: this.sb.info.location });
    if (options.readerOnNodeGroup) {
      await this.clients.auth.roleAssignments.create(`/subscriptions/${this.sb.info.subscriptionId}/resourceGroups/${this.sb.info.nodeResourceGroup}`, randomUUID(), {
        roleDefinitionId: `/subscriptions/${this.sb.info.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
        principalId: created.principalId!,
        principalType: "ServicePrincipal",
      });
    }
    return { name, id: created.id!, clientId: created.clientId!, principalId: created.principalId! };
  }

  /**
   * A federated identity credential on the identity (a new one, or `name`'s written again); issuer and audience
   * default to the cluster's and Entra's exchange. Returns its name.
   */
  async federate(identity: Identity, subject: string, options: { issuer?: string; audience?: string; name?: string } = {}): Promise<string> {
    const name = options.name ?? `fic-${randomUUID().slice(0, 8)}`;
    await this.clients.msi.federatedIdentityCredentials.createOrUpdate(this.sb.info.resourceGroup, identity.name, name, {
      issuer: options.issuer ?? this.issuer,
      subject,
      audiences: [options.audience ?? TOKEN_EXCHANGE_AUDIENCE],
    });
    return name;
  }

  /** A ServiceAccount annotated with the identity's client id, as the workload identity docs have it. */
  async serviceAccount(identity: Identity | undefined, namespace = "default"): Promise<string> {
    const name = `sa-${randomUUID().slice(0, 8)}`;
    const annotations = identity ? { "azure.workload.identity/client-id": identity.clientId } : undefined;
    await this.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name, annotations } } });
    return name;
  }

  /** TokenRequest for the ServiceAccount (what the kubelet projects into the pod). */
  async serviceAccountToken(name: string, options: { audience?: string; expirationSeconds?: number; namespace?: string } = {}): Promise<string> {
    const answer = await this.core.createNamespacedServiceAccountToken({
      namespace: options.namespace ?? "default",
      name,
      body: { spec: { audiences: [options.audience ?? TOKEN_EXCHANGE_AUDIENCE], expirationSeconds: options.expirationSeconds ?? 3600 } },
    });
    return answer.status!.token;
  }

  /** Writes a token to a file, as the projected volume holds it. */
  tokenFile(token: string): string {
    const path = join(this.work, `token-${randomUUID().slice(0, 8)}`);
    writeFileSync(path, token, { mode: 0o600 });
    return path;
  }

  workloadCredential(identity: Identity, tokenFilePath: string): WorkloadIdentityCredential {
    return new WorkloadIdentityCredential({
      tenantId: this.sb.info.tenantId,
      clientId: identity.clientId,
      tokenFilePath,
      authorityHost: this.sb.info.endpoints.activeDirectory,
      disableInstanceDiscovery: true,
    });
  }

  assertionCredential(clientId: string, assertion: () => Promise<string>): ClientAssertionCredential {
    return new ClientAssertionCredential(this.sb.info.tenantId, clientId, assertion, { authorityHost: this.sb.info.endpoints.activeDirectory, disableInstanceDiscovery: true });
  }

  compute(credential = this.clients.credential as ConstructorParameters<typeof ComputeManagementClient>[0]): ComputeManagementClient {
    return new ComputeManagementClient(credential, this.sb.info.subscriptionId, this.armOptions);
  }

  /** Entra ID's token endpoint with a client assertion, raw: its JSON answer, error codes included. */
  exchange(clientId: string, assertion: string, options: { version?: "v1" | "v2"; assertionType?: string } = {}): Promise<RawResponse> {
    const v1 = options.version === "v1";
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      client_assertion_type: options.assertionType ?? "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion,
      ...(v1 ? { resource: this.sb.info.endpoints.activeDirectoryResourceId } : { scope: this.armScope }),
    });
    const path = v1 ? "oauth2/token" : "oauth2/v2.0/token";
    return rawRequest(`${this.sb.info.endpoints.activeDirectory}/${this.sb.info.tenantId}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
      ca: this.ca,
    });
  }

  settings(changes: Record<string, number>): Promise<unknown> {
    return sandboxAdmin(this.sb.dir, "PATCH", "settings", changes);
  }

  /** Moves the sandbox clock forward (tokens age, the kubelet rotates projected tokens). */
  advanceClock(seconds: number): Promise<unknown> {
    return sandboxAdmin(this.sb.dir, "POST", "clock", { advanceSeconds: seconds });
  }

  async stop(): Promise<void> {
    await this.sb.stop();
    rmSync(this.work, { recursive: true, force: true });
  }
}

/** The JSON body of an Entra ID error answer. */
export interface EntraErrorBody {
  error: string;
  error_description: string;
  error_codes: number[];
}

/** What a failed assertion may print of Entra ID's answer: its error, never an issued token. */
export function answerText(res: RawResponse): string {
  return res.status === 200 ? "(Entra ID issued a token)" : res.text;
}
