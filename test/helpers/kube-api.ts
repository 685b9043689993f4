import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { rawRequest, type RawResponse } from "./raw-http.js";
import { createCertificateAuthority, issueServerCertificate } from "../../src/sandbox/pki.js";
import { startKubeApi, type KubeApi, type StartKubeApiOptions } from "../../src/sandbox/kube/index.js";

/** The sandbox Kubernetes API server started for one test file, with a fresh CA and temp dir. */
export interface KubeFixture {
  dir: string;
  api: KubeApi;
  kc: KubeConfig;
  options: StartKubeApiOptions;
  /** A KubeConfig that authenticates as the given ServiceAccount. */
  kubeConfigFor(namespace: string, serviceAccount: string): KubeConfig;
  /** Stops the server and starts it again on the same dir (state must survive). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export const TEST_NODES = [
  { name: "aks-nodepool1-12345678-vmss000000", providerID: "azure:///subscriptions/s/resourceGroups/mc/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0", internalIP: "10.224.0.4", labels: { "kubernetes.azure.com/agentpool": "nodepool1", "node.kubernetes.io/instance-type": "Standard_DS2_v2", "topology.kubernetes.io/region": "eastus" } },
  { name: "aks-nodepool1-12345678-vmss000001", providerID: "azure:///subscriptions/s/resourceGroups/mc/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/1", internalIP: "10.224.0.5", labels: { "kubernetes.azure.com/agentpool": "nodepool1", "node.kubernetes.io/instance-type": "Standard_DS2_v2", "topology.kubernetes.io/region": "eastus" } },
];

export async function startKubeFixture(extra: Partial<StartKubeApiOptions> = {}): Promise<KubeFixture> {
  const dir = mkdtempSync(join(tmpdir(), "podid-kube-"));
  const ca = await createCertificateAuthority("podid sandbox test CA");
  const cert = await issueServerCertificate(ca, { dns: ["localhost"], ips: ["127.0.0.1"] });
  const options: StartKubeApiOptions = {
    dir,
    host: "127.0.0.1",
    port: 0,
    tls: { cert: cert.certPem, key: cert.keyPem },
    caCertPem: ca.certPem,
    clusterName: "podid-test",
    nodes: TEST_NODES,
    ...extra,
  };
  const fixture: KubeFixture = {
    dir,
    options,
    api: await startKubeApi(options),
    kc: new KubeConfig(),
    kubeConfigFor(namespace, serviceAccount) {
      const kc = new KubeConfig();
      kc.loadFromFile(fixture.api.kubeconfigPath);
      const token = fixture.api.tokenForServiceAccount(namespace, serviceAccount);
      kc.loadFromOptions({
        clusters: kc.clusters,
        users: [{ name: "sa", token }],
        contexts: [{ name: "sa", cluster: kc.clusters[0].name, user: "sa", namespace }],
        currentContext: "sa",
      });
      return kc;
    },
    async restart() {
      await fixture.api.close();
      fixture.api = await startKubeApi({ ...options, port: fixture.api.port });
      fixture.kc = new KubeConfig();
      fixture.kc.loadFromFile(fixture.api.kubeconfigPath);
    },
    async stop() {
      await fixture.api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  fixture.kc.loadFromFile(fixture.api.kubeconfigPath);
  return fixture;
}

/** A raw response whose JSON tests read freely (Status and list bodies). */
export type KubeRawResponse = Omit<RawResponse, "json"> & { json: any };

/** A raw HTTPS request to the fixture's server (admin token unless another is given; "" for none). */
export function kubeRequest(
  fixture: KubeFixture,
  method: string,
  path: string,
  options: { body?: string; contentType?: string; accept?: string; token?: string } = {},
): Promise<KubeRawResponse> {
  const token = options.token ?? fixture.api.adminToken;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  // Only the content type the test names: kube's answers to a missing or wrong one are under test.
  if (options.contentType) headers["content-type"] = options.contentType;
  if (options.accept) headers.accept = options.accept;
  return rawRequest(new URL(path, fixture.api.url), { method, headers, body: options.body, ca: fixture.options.caCertPem, noDefaultContentType: true });
}

/** The Status body of a failed client-node call. */
export function statusOf(err: unknown): { code: number; reason?: string; message?: string; details?: any } {
  const e = err as { code?: number; body?: unknown };
  if (typeof e.code !== "number") throw err;
  const body = typeof e.body === "string" ? JSON.parse(e.body) : e.body;
  return body ?? { code: e.code };
}

/** A name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The Status a client-node call fails with; fails the test when the call succeeds. */
export async function rejected(p: Promise<unknown>): Promise<ReturnType<typeof statusOf>> {
  try {
    await p;
  } catch (err) {
    return statusOf(err);
  }
  throw new Error("expected the call to fail");
}
