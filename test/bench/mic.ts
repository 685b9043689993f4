import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, Watch, type KubeConfig } from "@kubernetes/client-node";
import { kubeNodesOf, startAzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { CLI } from "../helpers/cli.js";
import { sandboxCloudProfile } from "../../src/sandbox/cloud-profile.js";
import { mapConcurrent } from "../../src/util/concurrency.js";
import { startChild } from "./process.js";
import { median, type Figure } from "./stats.js";

const PODS = 1000;
const NODES = 50;
const SCALE_SETS = 10;
const IDENTITIES = 20;
const CONVERGE_WITHIN_MS = 300_000;
const GROUP = { group: "aadpodidentity.k8s.io", version: "v1", namespace: "default" };

/** An ARM identity write as ARM sees it: a PUT or PATCH of a scale set or a VM, answered 2xx. */
const IDENTITY_WRITE = /^arm (PUT|PATCH) \S+\/providers\/Microsoft\.Compute\/(virtualMachineScaleSets|virtualMachines)\/[^/\s]+ 2\d\d /;

/** Resolves when every one of `count` AzureAssignedIdentities is Assigned, as the API server's watch reports them. */
function allAssigned(kc: KubeConfig, count: number, signal: AbortSignal): Promise<void> {
  const status = new Map<string, string | undefined>();
  return new Promise<void>((resolve, reject) => {
    let request: { abort(): void } | undefined;
    let settled = false;
    // Settled before the watch is aborted: aborting ends the watch at once, with an error of its own.
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
      request?.abort();
    };
    signal.addEventListener("abort", () => done(new Error(String(signal.reason))), { once: true });
    void new Watch(kc)
      .watch(
        `/apis/${GROUP.group}/${GROUP.version}/azureassignedidentities`,
        {},
        (type, obj: { metadata: { namespace: string; name: string }; status?: { status?: string } }) => {
          const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
          if (type === "DELETED") status.delete(key);
          else status.set(key, obj.status?.status);
          if (status.size === count && [...status.values()].every((s) => s === "Assigned")) done();
        },
        (err) => done(err ? (err as Error) : new Error("the watch ended before every assignment was Assigned")),
      )
      .then((r) => {
        request = r;
        if (settled) r.abort();
      }, done);
  });
}

/**
 * MIC convergence for 1,000 labelled pods on 50 nodes sharing 20 identities: time from starting MIC until every
 * AzureAssignedIdentity is Assigned, and the ARM identity writes it took, counted by ARM (baseline: one write per
 * scale set that gains identities, as every one of the 10 does; upstream writes once per node per cycle). MIC runs as
 * its Deployment runs it, `podid runtime mic` of the built CLI in a process of its own, with the sandbox's
 * environment; the sandbox's ARM and API server and the bench's watch share this process.
 */
export async function benchMic(runs = 2): Promise<Figure[]> {
  const times: number[] = [];
  const writes: number[] = [];
  for (let run = 0; run < runs; run++) {
    let identityWrites = 0;
    const sb = await startAzureSandbox({ nodes: NODES, scaleSets: SCALE_SETS, log: (line) => void (IDENTITY_WRITE.test(line) && identityWrites++) });
    const f = await startKubeFixture({ nodes: kubeNodesOf(sb.seed) });
    const files = mkdtempSync(join(tmpdir(), "podid-bench-mic-"));
    try {
      await applyShippedCrds(f.kc);
      const core = f.kc.makeApiClient(CoreV1Api);
      const custom = f.kc.makeApiClient(CustomObjectsApi);
      const ids = await mapConcurrent(Array.from({ length: IDENTITIES }, (_, i) => i), 10, (i) =>
        sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, `bench-${i}`, { location: "eastus" }),
      );
      await mapConcurrent(ids, 10, async (id, i) => {
        await custom.createNamespacedCustomObject({ ...GROUP, plural: "azureidentities", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: `id-${i}` }, spec: { type: 0, resourceID: id.id, clientID: id.clientId } } });
        await custom.createNamespacedCustomObject({ ...GROUP, plural: "azureidentitybindings", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name: `b-${i}` }, spec: { azureIdentity: `id-${i}`, selector: `s${i}` } } });
      });
      await mapConcurrent(Array.from({ length: PODS }, (_, i) => i), 20, (i) =>
        core.createNamespacedPod({ namespace: "default", body: { metadata: { name: `p${i}`, labels: { aadpodidbinding: `s${i % IDENTITIES}` } }, spec: { nodeName: sb.seed.nodes[i % NODES].name, containers: [{ name: "c", image: "c" }] } } }),
      );
      const profile = join(files, "cloud.json");
      const ca = join(files, "ca.pem");
      writeFileSync(profile, JSON.stringify(sandboxCloudProfile({ activeDirectory: sb.cloud.endpoints.entra, resourceManager: sb.cloud.endpoints.arm })));
      writeFileSync(ca, sb.caPem);
      const env = {
        AZURE_TENANT_ID: sb.cloud.cliCredential.tenantId,
        AZURE_CLIENT_ID: sb.cloud.cliCredential.clientId,
        AZURE_CLIENT_SECRET: sb.cloud.cliCredential.clientSecret,
        AZURE_AUTHORITY_HOST: sb.cloud.endpoints.entra,
        AZURE_SUBSCRIPTION_ID: sb.subscriptionId,
        PODID_CLOUD: profile,
        NODE_EXTRA_CA_CERTS: ca,
      };
      const timeout = AbortSignal.timeout(CONVERGE_WITHIN_MS);
      const converged = allAssigned(f.kc, PODS, timeout);
      const started = Date.now();
      const mic = await startChild([CLI, "runtime", "mic", `--kubeconfig=${f.api.kubeconfigPath}`, "--http-probe-port=0", "--prometheus-port=0", "--leader-election-instance=bench"], /MIC starting/, env);
      try {
        await converged.catch((err: Error) => {
          throw new Error(`MIC did not converge: ${err.message}\n${mic.output().slice(-2000)}`);
        });
        times.push(Date.now() - started);
        writes.push(identityWrites);
      } finally {
        await mic.stop();
      }
    } finally {
      rmSync(files, { recursive: true, force: true });
      await f.stop();
      await sb.close();
    }
  }
  return [
    { name: `mic: ${PODS} pods on ${NODES} nodes in ${SCALE_SETS} scale sets converge (Assigned; MIC in its own process)`, unit: "ms", value: median(times), runs },
    { name: `mic: ARM identity writes for ${PODS} pods (counted by ARM)`, unit: "writes", value: median(writes), runs, baseline: { name: "changed scale sets", value: SCALE_SETS } },
  ];
}
