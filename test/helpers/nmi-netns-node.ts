/**
 * The "node" of the iptables test, run inside the node network namespace (`ip netns exec <node> node --import
 * tsx this-file`): a sandbox cloud and cluster on this namespace's loopback, two pods with one identity each,
 * and NMI with its iptables redirect. Prints one JSON line when ready; on "stop" from stdin stops NMI (which
 * removes the rules), prints {"stopped":true} and exits.
 */
import { createInterface } from "node:readline";
import { startAzureSandbox } from "./azure-sandbox.js";
import { startKubeFixture, TEST_NODES } from "./kube-api.js";
import { applyShippedCrds } from "./crds.js";
import { attachedIdentities, NmiWorld } from "./nmi.js";
import { KubeSession } from "../../src/kube/session.js";
import { startNmi } from "../../src/runtime/nmi/nmi.js";
import { createLogger } from "../../src/util/logger.js";

const [hostIp, pod1Ip, pod2Ip] = [process.env.HOST_IP!, process.env.POD1_IP!, process.env.POD2_IP!];
const node = TEST_NODES[0].name;
const sb = await startAzureSandbox({ nodes: 1 });
const kube = await startKubeFixture();
await applyShippedCrds(kube.kc);
const world = new NmiWorld(kube.kc, node);
const ids = await attachedIdentities(sb, world, ["netns-a", "netns-b"]);
for (const [i, ip] of [pod1Ip, pod2Ip].entries()) {
  const pod = { namespace: "default", name: `pod${i + 1}` };
  await world.pod(pod.namespace, pod.name, ip);
  await world.assign(pod, ids[i].object, "Assigned");
}
const nmi = await startNmi({
  kube: new KubeSession(kube.kc, "default"),
  options: { node, listenAddress: hostIp, hostIp, port: 2579, iptables: true, retryAttemptsForCreated: 4, retryAttemptsForAssigned: 2, findIdentityRetryIntervalSec: 0.1 },
  imdsBaseUrl: sb.cloud.endpoints.imds[sb.seed.nodes[0].name],
  logger: createLogger("info", (l) => process.stderr.write(l + "\n"), "nmi: "),
});
process.stdout.write(JSON.stringify({ ready: true, a: ids[0].clientId, b: ids[1].clientId, resource: sb.cloud.endpoints.armResourceId }) + "\n");

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== "stop") continue;
  await nmi.stop();
  process.stdout.write(JSON.stringify({ stopped: true }) + "\n");
  break;
}
await kube.stop();
await sb.close();
