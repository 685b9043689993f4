/**
 * The "node" of the network-namespace tests, run inside the node namespace (`ip netns exec <node> node --import
 * tsx this-file`): a sandbox cloud and cluster on this namespace's loopback, the scenario's identities, pods
 * (SCENARIO, pod addresses from POD_IPS) and exceptions, and NMI with its iptables redirect on HOST_IP:2579.
 * Prints one JSON line when ready, then one line per IMDS request ({"imds": ...}) and per NMI log line
 * ({"nmi": ...}) as they happen. Commands on stdin: {"mark": n} echoes {"mark": n} (everything logged before it
 * was printed before it); {"stop": true} stops NMI (which removes the rules), prints {"stopped": true} and exits.
 */
import { endpointOf } from "../../src/kube/lite/from-kubeconfig.js";
import { createInterface } from "node:readline";
import type { V1OwnerReference } from "@kubernetes/client-node";
import { startAzureSandbox } from "./azure-sandbox.js";
import { startKubeFixture, TEST_NODES } from "./kube-api.js";
import { applyShippedCrds } from "./crds.js";
import { attachedIdentities, NmiWorld } from "./nmi.js";
import type { NetnsScenario } from "./nmi-netns.js";
import { startNmi } from "../../src/runtime/nmi/nmi.js";
import { createLogger } from "../../src/util/logger.js";

const emit = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
const hostIp = process.env.HOST_IP!;
const podIps = JSON.parse(process.env.POD_IPS!) as string[];
const scenario = JSON.parse(process.env.SCENARIO!) as NetnsScenario;
const node = TEST_NODES[0].name;

const sb = await startAzureSandbox({ nodes: 1, log: (l) => l.startsWith("imds[") && emit({ imds: l }) });
const kube = await startKubeFixture();
await applyShippedCrds(kube.kc);
const world = new NmiWorld(kube.kc, node);
for (const name of scenario.namespaces ?? []) await world.core.createNamespace({ body: { metadata: { name } } });
const nodeOnly = scenario.nodeOnlyIdentities ?? [];
const names = [...scenario.identities, ...nodeOnly];
const attached = await attachedIdentities(sb, world, names, nodeOnly);
const byName = new Map(names.map((n, i) => [n, attached[i]]));
const objects = new Map(names.map((n, i) => [n, attached[i].object]));
for (const alias of scenario.aliases ?? []) {
  const of = byName.get(alias.of)!;
  objects.set(alias.name, await world.identity(alias.namespace, alias.name, { type: 0, resourceID: of.id, clientID: of.clientId }, alias.annotations));
}
for (const e of scenario.exceptions ?? []) await world.exception(e.namespace, e.name, e.podLabels);
const chains = new Map<string, V1OwnerReference>();
for (const p of scenario.pods) {
  let owners: V1OwnerReference[] | undefined;
  if (p.owner) {
    const key = `${p.namespace}/${p.owner.replicaSet}`;
    if (!chains.has(key)) chains.set(key, await world.deploymentChain(p.namespace, p.owner.deployment, p.owner.replicaSet));
    const owner = chains.get(key)!;
    owners = [p.owner.forgedUid ? { ...owner, uid: "00000000-0000-0000-0000-000000000000" } : owner];
  }
  await world.pod(p.namespace, p.name, podIps[p.pod], p.labels ?? {}, node, owners);
  if (p.identity) await world.assign({ namespace: p.namespace, name: p.name }, objects.get(p.identity)!, "Assigned");
}
const nmi = await startNmi({
  cluster: endpointOf(kube.kc),
  options: { node, listenAddress: hostIp, hostIp, port: 2579, iptables: true, retryAttemptsForCreated: 4, retryAttemptsForAssigned: 2, findIdentityRetryIntervalSec: 0.1, ...scenario.nmi },
  imdsBaseUrl: sb.cloud.endpoints.imds[sb.seed.nodes[0].name],
  logger: createLogger("verbose", (l) => emit({ nmi: l }), "nmi: "),
});
emit({ ready: true, identities: Object.fromEntries([...byName].map(([n, i]) => [n, { clientId: i.clientId, id: i.id, principalId: i.principalId }])), resource: sb.cloud.endpoints.armResourceId });

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as { mark?: number; stop?: boolean };
  if (cmd.mark !== undefined) emit({ mark: cmd.mark });
  if (cmd.stop) {
    await nmi.stop();
    emit({ stopped: true });
    break;
  }
}
await kube.stop();
await sb.close();
