import https from "node:https";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ClientSecretCredential, type TokenCredential } from "@azure/identity";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { createCertificateAuthority, issueServerCertificate } from "../../src/sandbox/pki.js";
import { startAzureCloud, planTopology } from "../../src/sandbox/azure/index.js";
import { trustCa } from "../helpers/trust-ca.js";
import { median, type Figure } from "./stats.js";

const CONCURRENCY = 16;
const WINDOW_MS = 2000;

/** Requests per second that `get` completes, CONCURRENCY at a time, over a fixed window. */
async function throughput(client: ManagedServiceIdentityClient, group: string, name: string): Promise<number> {
  let done = 0;
  const until = Date.now() + WINDOW_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        await client.userAssignedIdentities.get(group, name);
        done++;
      }
    }),
  );
  return done / (WINDOW_MS / 1000);
}

/** A fixed token: the baseline measures only ARM request handling, as the sandbox's SDK calls reuse a cached token. */
const fixedToken: TokenCredential = { getToken: async () => ({ token: "x", expiresOnTimestamp: Date.now() + 3600_000 }) };

/**
 * ARM requests per second through the real SDK against the sandbox, and against a bare Node HTTPS server that
 * answers every request with the same fixed identity (the floor: TLS, HTTP and the SDK pipeline alone).
 */
export async function benchArmThroughput(runs = 3): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), "podid-bench-arm-"));
  const ca = await createCertificateAuthority("podid bench CA");
  const cert = await issueServerCertificate(ca, { dns: ["localhost"], ips: ["127.0.0.1"] });
  trustCa(ca.certPem);
  const cloud = await startAzureCloud({ dir, host: "127.0.0.1", ports: { entra: 0, arm: 0, imds: [0] }, tls: { cert: cert.certPem, key: cert.keyPem }, seed: () => planTopology({ nodes: 1 }) });
  const fixed = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x", name: "x", location: "eastus", properties: { clientId: "c", principalId: "p", tenantId: "t" } }));
  });
  await new Promise<void>((r) => fixed.listen(0, "127.0.0.1", r));
  try {
    const c = cloud.cliCredential;
    const credential = new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, { authorityHost: cloud.endpoints.entra, disableInstanceDiscovery: true });
    const options = { endpoint: cloud.endpoints.arm, credentialScopes: [cloud.endpoints.armResourceId + ".default"] };
    const sandbox = new ManagedServiceIdentityClient(credential, c.subscriptionId, options);
    await sandbox.userAssignedIdentities.createOrUpdate(cloud.seed.resourceGroup, "bench-id", { location: cloud.seed.location });
    const floor = new ManagedServiceIdentityClient(fixedToken, c.subscriptionId, { endpoint: `https://127.0.0.1:${(fixed.address() as AddressInfo).port}`, credentialScopes: ["x/.default"] });
    const measured: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < runs; i++) {
      measured.push(await throughput(sandbox, cloud.seed.resourceGroup, "bench-id"));
      baseline.push(await throughput(floor, "g", "x"));
    }
    return [{ name: `ARM GET identity through @azure/arm-msi (${CONCURRENCY} concurrent)`, unit: "req/s", value: median(measured), runs, baseline: { name: "fixed-answer HTTPS server", value: median(baseline) } }];
  } finally {
    await cloud.close();
    await new Promise((r) => fixed.close(r));
    fixed.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  }
}
