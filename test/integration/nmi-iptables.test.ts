import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { createTopology, inNs, NETNS_SKIP, type Topology } from "../helpers/netns.js";
import { startNetnsNode, type NetnsNode } from "../helpers/nmi-netns.js";

/**
 * The real interception path: network namespaces for a node and two pods, joined by veth pairs; NMI runs in the
 * node namespace and installs its iptables rules there; the pods call 169.254.169.254:80 with plain HTTP.
 * Everything lives inside the namespaces this file creates and deletes.
 */
const skip = NETNS_SKIP;
if (skip) console.log(`# nmi-iptables: skipped: ${skip}`);

let topology: Topology | undefined;
let node: NetnsNode | undefined;
let ready: { a: string; b: string; resource: string };

/** A plain HTTP GET from inside a pod namespace, with Node (no SDK): {status, body}. */
function getFromPod(pod: string, path: string, headers: Record<string, string> = { Metadata: "true" }, timeoutMs = 10_000): { status: number; body: string } {
  const script = `require("http").get({host:"169.254.169.254",port:80,path:${JSON.stringify(path)},headers:${JSON.stringify(headers)},timeout:${timeoutMs}},(r)=>{let b="";r.on("data",(c)=>b+=c);r.on("end",()=>{process.stdout.write(JSON.stringify({status:r.statusCode,body:b}))})}).on("timeout",function(){this.destroy(new Error("timeout"))}).on("error",(e)=>{process.stdout.write(JSON.stringify({status:0,body:e.message}))})`;
  const r = inNs(pod, process.execPath, "-e", script);
  return JSON.parse(r.stdout || `{"status":0,"body":${JSON.stringify(r.stderr)}}`) as { status: number; body: string };
}

before(async () => {
  if (skip) return;
  topology = createTopology(2);
  node = await startNetnsNode(topology, {
    identities: ["netns-a", "netns-b"],
    pods: [
      { pod: 0, namespace: "default", name: "pod1", labels: { aadpodidbinding: "nmi-test" }, identity: "netns-a" },
      { pod: 1, namespace: "default", name: "pod2", labels: { aadpodidbinding: "nmi-test" }, identity: "netns-b" },
    ],
  });
  ready = { a: node.ready.identities["netns-a"].clientId, b: node.ready.identities["netns-b"].clientId, resource: node.ready.resource };
});

after(async () => {
  node?.kill();
  topology?.remove();
});

test("a pod's plain HTTP call to 169.254.169.254 reaches NMI, which answers for that pod's identity only; rules go with NMI", { skip }, async () => {
  const ns = { node: topology!.node, pod1: topology!.pods[0].ns, pod2: topology!.pods[1].ns };
  const hostIp = topology!.hostIp;
  const listed = inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-S", "aad-metadata").stdout.trim().split("\n");
  assert.deepEqual(listed, [
    "-N aad-metadata",
    `-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination ${hostIp}:2579`,
    "-A aad-metadata -j RETURN",
  ]);
  assert.equal(inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-C", "PREROUTING", "-j", "aad-metadata").status, 0);

  const probe = getFromPod(ns.pod1, "/metadata/identity/oauth2/token", {});
  assert.equal(probe.status, 400, probe.body);
  assert.deepEqual(JSON.parse(probe.body), { error: "invalid_request", error_description: "Required metadata header not specified" });

  const q = (extra: Record<string, string> = {}) => `/metadata/identity/oauth2/token?${new URLSearchParams({ "api-version": "2018-02-01", resource: ready.resource, ...extra })}`;
  const own1 = getFromPod(ns.pod1, q());
  assert.equal(own1.status, 200, own1.body);
  assert.equal(decodeJwt(JSON.parse(own1.body).access_token).appid, ready.a);
  const own2 = getFromPod(ns.pod2, q());
  assert.equal(own2.status, 200, own2.body);
  assert.equal(decodeJwt(JSON.parse(own2.body).access_token).appid, ready.b, "NMI tells the pods apart by source address");
  const stolen = getFromPod(ns.pod1, q({ client_id: ready.b }));
  assert.equal(stolen.status, 404, stolen.body);
  assert.ok(!stolen.body.includes("access_token"));

  await node!.stop();
  const gone = inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-S", "aad-metadata");
  assert.notEqual(gone.status, 0, "the chain is gone");
  assert.notEqual(inNs(ns.node, "iptables", "-w", "5", "-t", "nat", "-C", "PREROUTING", "-j", "aad-metadata").status, 0, "and so is the jump");
  assert.equal(getFromPod(ns.pod1, q(), { Metadata: "true" }, 1000).status, 0, "nothing answers for the metadata address any more");
});
