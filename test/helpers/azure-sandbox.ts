import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { ClientSecretCredential, type TokenCredential } from "@azure/identity";
import type { RestError } from "@azure/core-rest-pipeline";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { ContainerServiceClient } from "@azure/arm-containerservice";
import { ComputeManagementClient } from "@azure/arm-compute";
import { createCertificateAuthority, issueServerCertificate } from "../../src/sandbox/pki.js";
import { startAzureCloud, type AzureCloud, type StartAzureCloudOptions } from "../../src/sandbox/azure/index.js";
import { addApplication } from "../../src/sandbox/azure/admin.js";
import { planTopology } from "../../src/sandbox/azure/seed.js";
import type { SeedInfo } from "../../src/sandbox/azure/model.js";
import type { SandboxResponse } from "../../src/sandbox/http/types.js";
import { AzureSession } from "../../src/azure/session.js";
import { cloudFromConfig } from "../../src/azure/cloud.js";
import { sandboxCloudProfile } from "../../src/sandbox/cloud-profile.js";
import type { KubeNodeSeed } from "../../src/sandbox/kube/index.js";
import { trustCa } from "./trust-ca.js";
import { rawRequest, type RawRequestOptions, type RawResponse } from "./raw-http.js";

export type { RawResponse } from "./raw-http.js";

/** The four management clients the product uses, all pointed at the sandbox ARM. */
export interface ArmClients {
  msi: ManagedServiceIdentityClient;
  authorization: AuthorizationManagementClient;
  aks: ContainerServiceClient;
  compute: ComputeManagementClient;
}

/** An application service principal added to the sandbox directory for a test (no role unless granted). */
export interface TestApplication {
  objectId: string;
  clientId: string;
  clientSecret: string;
  credential: ClientSecretCredential;
  clients: ArmClients;
}

export interface AzureSandbox {
  dir: string;
  cloud: AzureCloud;
  seed: SeedInfo;
  subscriptionId: string;
  /** The CA the sandbox's TLS certificate comes from (PEM): what a child process trusts through NODE_EXTRA_CA_CERTS. */
  caPem: string;
  /** The sandbox CLI's credential (Owner on the subscription). */
  credential: ClientSecretCredential;
  /** Clients as the CLI principal. */
  clients: ArmClients;
  clientsFor(credential: TokenCredential): ArmClients;
  addApplication(displayName: string): TestApplication;
  /** A bearer token for ARM as the CLI principal, for raw requests. */
  armToken(credential?: TokenCredential): Promise<string>;
  /**
   * An authenticated raw ARM request (path relative to the ARM endpoint, api-version included by the caller):
   * for resources no installed SDK covers (resource groups) and for requests the SDKs never send.
   */
  arm(method: string, path: string, options?: { body?: string; credential?: TokenCredential; headers?: Record<string, string> }): Promise<RawResponse>;
  /** A raw HTTP(S) request (for bodies and api-versions the SDKs never send). */
  raw(url: string, options?: RawRequestOptions): Promise<RawResponse>;
  /** Stops the cloud and starts it again on the same dir and ports (state must survive). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Low retry counts so failing tests fail fast; the SDK's throttling policy still honours Retry-After. */
const RETRY = { maxRetries: 2, retryDelayInMs: 20, maxRetryDelayInMs: 200 };

/**
 * Starts the sandbox cloud in-process for one test file: a temp dir, a fresh CA and a server certificate for
 * 127.0.0.1, and the CA trusted by this process. NODE_EXTRA_CA_CERTS is read only at process start and Node 20
 * has no tls.setDefaultCACertificates, so the CA is added to every client TLS context (see trust-ca.ts) — test
 * only; the product and real users rely on NODE_EXTRA_CA_CERTS from `podid sandbox env`.
 *
 * ManagedIdentityCredential (MSAL) picks its IMDS endpoint once per process, from AZURE_POD_IDENTITY_AUTHORITY_HOST
 * at first use: a test file that uses it talks to one node's IMDS only (use `raw` for the others).
 */
export async function startAzureSandbox(options: { nodes?: number; scaleSets?: number; log?: (line: string) => void } = {}): Promise<AzureSandbox> {
  const dir = mkdtempSync(join(tmpdir(), "podid-azure-"));
  const ca = await createCertificateAuthority("podid sandbox test CA");
  const cert = await issueServerCertificate(ca, { dns: ["localhost"], ips: ["127.0.0.1"] });
  trustCa(ca.certPem);
  const topology = planTopology({ nodes: options.nodes ?? 2, scaleSets: options.scaleSets });
  const startOptions: StartAzureCloudOptions = {
    dir,
    host: "127.0.0.1",
    ports: { entra: 0, arm: 0, imds: topology.nodes.map(() => 0) },
    tls: { cert: cert.certPem, key: cert.keyPem },
    seed: () => topology,
    log: options.log,
  };
  let cloud = await startAzureCloud(startOptions);

  const credentialFor = (clientId: string, clientSecret: string) =>
    new ClientSecretCredential(cloud.cliCredential.tenantId, clientId, clientSecret, {
      authorityHost: cloud.endpoints.entra,
      disableInstanceDiscovery: true,
    });
  const clientsFor = (credential: TokenCredential): ArmClients => {
    const common = { endpoint: cloud.endpoints.arm, credentialScopes: [`${cloud.endpoints.armResourceId}.default`], retryOptions: RETRY };
    const sub = cloud.cliCredential.subscriptionId;
    return {
      msi: new ManagedServiceIdentityClient(credential, sub, common),
      authorization: new AuthorizationManagementClient(credential, sub, common),
      aks: new ContainerServiceClient(credential, sub, common),
      compute: new ComputeManagementClient(credential, sub, common),
    };
  };
  const credential = credentialFor(cloud.cliCredential.clientId, cloud.cliCredential.clientSecret);

  const sandbox: AzureSandbox = {
    dir,
    get cloud() {
      return cloud;
    },
    seed: cloud.seed,
    subscriptionId: cloud.cliCredential.subscriptionId,
    caPem: ca.certPem,
    credential,
    clients: clientsFor(credential),
    clientsFor,
    addApplication(displayName) {
      const app = addApplication(cloud.context, displayName);
      const cred = credentialFor(app.clientId, app.clientSecret);
      return { objectId: app.objectId, clientId: app.clientId, clientSecret: app.clientSecret, credential: cred, clients: clientsFor(cred) };
    },
    async armToken(cred = credential) {
      const token = await cred.getToken(`${cloud.endpoints.armResourceId}.default`);
      if (!token) throw new Error("the credential returned no token");
      return token.token;
    },
    raw: rawRequest,
    async arm(method, path, o = {}) {
      const token = await sandbox.armToken(o.credential);
      return rawRequest(`${cloud.endpoints.arm}${path}`, { method, body: o.body, headers: { authorization: `Bearer ${token}`, ...o.headers } });
    },
    async restart() {
      const port = (url: string) => Number(new URL(url).port);
      await cloud.close();
      cloud = await startAzureCloud({
        ...startOptions,
        ports: { entra: port(cloud.endpoints.entra), arm: port(cloud.endpoints.arm), imds: topology.nodes.map((n) => port(cloud.endpoints.imds[n.name])) },
      });
    },
    async close() {
      await cloud.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return sandbox;
}

/** Asserts that an SDK call fails with exactly the ARM error the factory builds (status and body). */
export async function rejectsWithArmError(promise: Promise<unknown>, expected: SandboxResponse): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    // Each SDK package may bundle its own core-rest-pipeline, so RestError is recognised by name, not class.
    const e = err as RestError;
    assert.equal(e?.name, "RestError", `expected a RestError, got ${String(err)}`);
    assert.equal(e.statusCode, expected.status);
    assert.deepEqual(JSON.parse(e.response?.bodyAsText ?? "{}"), expected.body);
    return true;
  });
}

/** Asserts that a raw response is exactly the ARM error the factory builds. */
export function assertArmError(res: RawResponse, expected: SandboxResponse): void {
  assert.equal(res.status, expected.status, res.text);
  assert.deepEqual(res.json, expected.body);
}

/**
 * podid's own AzureSession for the sandbox, signed in as its Owner principal: the cloud comes from the sandbox's
 * cloud profile through the same parsing the CLI uses.
 */
export function productSession(sb: AzureSandbox): AzureSession {
  const profile = sandboxCloudProfile({ activeDirectory: sb.cloud.endpoints.entra, resourceManager: sb.cloud.endpoints.arm });
  return new AzureSession(cloudFromConfig(profile, "sandbox"), sb.credential, sb.subscriptionId);
}

/** Kubernetes Node seeds for the sandbox's scale-set instances, with the providerIDs AKS gives them. */
export function kubeNodesOf(seed: SeedInfo, labels: Record<string, string> = {}): KubeNodeSeed[] {
  return seed.nodes.map((n) => ({ name: n.name, providerID: `azure://${n.vmId}`, internalIP: n.internalIP, labels }));
}
