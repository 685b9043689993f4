import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { kubeNodesOf, productSession, startAzureSandbox } from "../helpers/azure-sandbox.js";
import { startKubeFixture } from "../helpers/kube-api.js";
import { applyShippedCrds } from "../helpers/crds.js";
import { KubeSession } from "../../src/kube/session.js";
import { PooledKubeConfig } from "../../src/kube/pooled-config.js";
import { startMic } from "../../src/runtime/mic/mic.js";
import { mapConcurrent } from "../../src/util/concurrency.js";
import { createLogger } from "../../src/util/logger.js";
import { median, type Figure } from "./stats.js";

const PODS = 1000;
const NODES = 50;
const SCALE_SETS = 10;
const IDENTITIES = 20;

/**
 * MIC convergence for 1,000 labelled pods on 50 nodes sharing 20 identities: time from MIC's start until every
 * AzureAssignedIdentity is Assigned and the scale set holds every identity, and the ARM identity writes it took
 * (baseline: one write per scale set that gains identities, as every one of the 10 does; upstream writes once per
 * node per cycle). The nodes are spread over the sandbox's scale sets.
 */
export async function benchMic(runs = 2): Promise<Figure[]> {
  const times: number[] = [];
  const writes: number[] = [];
  for (let run = 0; run < runs; run++) {
    const sb = await startAzureSandbox({ nodes: NODES, scaleSets: SCALE_SETS });
    const f = await startKubeFixture({ nodes: kubeNodesOf(sb.seed) });
    try {
      // The kubeconfig as podid loads it (MIC's openKubeSession): connections reused, as in a cluster.
      const kc = new PooledKubeConfig();
      kc.loadFromString(f.kc.exportConfig());
      await applyShippedCrds(kc);
      const core = kc.makeApiClient(CoreV1Api);
      const custom = kc.makeApiClient(CustomObjectsApi);
      const group = { group: "aadpodidentity.k8s.io", version: "v1", namespace: "default" };
      const ids = await mapConcurrent(Array.from({ length: IDENTITIES }, (_, i) => i), 10, (i) =>
        sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, `bench-${i}`, { location: "eastus" }),
      );
      await mapConcurrent(ids, 10, async (id, i) => {
        await custom.createNamespacedCustomObject({ ...group, plural: "azureidentities", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: `id-${i}` }, spec: { type: 0, resourceID: id.id, clientID: id.clientId } } });
        await custom.createNamespacedCustomObject({ ...group, plural: "azureidentitybindings", body: { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentityBinding", metadata: { name: `b-${i}` }, spec: { azureIdentity: `id-${i}`, selector: `s${i}` } } });
      });
      await mapConcurrent(Array.from({ length: PODS }, (_, i) => i), 20, (i) =>
        core.createNamespacedPod({ namespace: "default", body: { metadata: { name: `p${i}`, labels: { aadpodidbinding: `s${i % IDENTITIES}` } }, spec: { nodeName: sb.seed.nodes[i % NODES].name, containers: [{ name: "c", image: "c" }] } } }),
      );
      const started = Date.now();
      const mic = await startMic({
        kube: new KubeSession(kc, "default"),
        azure: productSession(sb),
        logger: createLogger("error"),
        options: {
          forceNamespaced: false,
          immutableClientIds: [],
          updateUserMsiMaxRetry: 2,
          updateUserMsiRetryIntervalMs: 1000,
          armRetryBudgetMs: 60_000,
          syncRetryDurationMs: 3_600_000,
          identityAssignmentReconcileIntervalMs: 180_000,
          leaderElection: { namespace: "default", name: "aad-pod-identity-mic", durationMs: 15_000, identity: "bench" },
        },
      });
      try {
        for (;;) {
          const list = (await custom.listClusterCustomObject({ group: group.group, version: group.version, plural: "azureassignedidentities" })) as { items: { status?: { status?: string } }[] };
          if (list.items.length === PODS && list.items.every((a) => a.status?.status === "Assigned")) break;
          if (Date.now() - started > 300_000) throw new Error(`MIC did not converge: ${list.items.length} assignments`);
          await new Promise((r) => setTimeout(r, 100));
        }
        times.push(Date.now() - started);
        writes.push(await mic.metrics.total("aadpodidentity_cloud_provider_write_count"));
      } finally {
        await mic.stop();
      }
    } finally {
      await f.stop();
      await sb.close();
    }
  }
  return [
    { name: `mic: ${PODS} pods on ${NODES} nodes in ${SCALE_SETS} scale sets converge (Assigned)`, unit: "ms", value: median(times), runs },
    { name: `mic: ARM identity writes for ${PODS} pods`, unit: "writes", value: median(writes), runs, baseline: { name: "changed scale sets", value: SCALE_SETS } },
  ];
}
