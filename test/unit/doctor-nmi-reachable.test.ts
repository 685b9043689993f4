import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { V1Pod } from "@kubernetes/client-node";
import { dnatTarget, inCidr, ruleAllows, selects } from "../../src/core/doctor/checks/nmi-reachable.js";
import { askHostToken } from "../../src/core/doctor/host-token-client.js";
import { HOST_NOT_ALLOWED } from "../../src/aadpodidentity/contract/messages.js";

// Check 17's NetworkPolicy reading (Kubernetes' own semantics) and check 14's client of NMI's host-token route.

test("CIDRs: membership, /0, /32, except", () => {
  assert.ok(inCidr("169.254.169.254", "169.254.169.254/32"));
  assert.ok(inCidr("169.254.169.254", "169.254.0.0/16"));
  assert.ok(inCidr("10.1.2.3", "0.0.0.0/0"));
  assert.ok(!inCidr("169.254.169.253", "169.254.169.254/32"));
  assert.ok(!inCidr("10.0.0.1", "not-a-cidr"));
  assert.ok(ruleAllows({ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.0.0/16"] } }] }, "10.240.0.4", 2579));
  assert.ok(!ruleAllows({ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.0.0/16"] } }] }, "169.254.169.254", 80));
});

test("egress rules: empty to/ports allow everything; selectors never match node or link-local addresses; ports and ranges", () => {
  assert.ok(ruleAllows({}, "169.254.169.254", 80));
  assert.ok(!ruleAllows({ to: [{ namespaceSelector: {} }] }, "169.254.169.254", 80), "a cluster-only rule does not reach IMDS");
  assert.ok(!ruleAllows({ to: [{ podSelector: { matchLabels: { app: "dns" } } }] }, "10.240.0.4", 2579));
  assert.ok(ruleAllows({ ports: [{ protocol: "TCP", port: 2579 }] }, "10.240.0.4", 2579));
  assert.ok(!ruleAllows({ ports: [{ protocol: "UDP", port: 2579 }] }, "10.240.0.4", 2579));
  assert.ok(ruleAllows({ ports: [{ port: 2000, endPort: 3000 }] }, "10.240.0.4", 2579), "TCP by default, port ranges");
  assert.ok(!ruleAllows({ ports: [{ port: "http" }] }, "169.254.169.254", 80), "a named port names a container port, not IMDS's");
});

test("label selectors: matchLabels and every matchExpressions operator; empty selects all", () => {
  const labels = { app: "web", aadpodidbinding: "demo" };
  assert.ok(selects({}, labels));
  assert.ok(selects(undefined, labels));
  assert.ok(selects({ matchLabels: { app: "web" } }, labels));
  assert.ok(!selects({ matchLabels: { app: "api" } }, labels));
  assert.ok(selects({ matchExpressions: [{ key: "aadpodidbinding", operator: "Exists" }] }, labels));
  assert.ok(!selects({ matchExpressions: [{ key: "aadpodidbinding", operator: "DoesNotExist" }] }, labels));
  assert.ok(selects({ matchExpressions: [{ key: "app", operator: "In", values: ["web", "api"] }] }, labels));
  assert.ok(!selects({ matchExpressions: [{ key: "app", operator: "NotIn", values: ["web"] }] }, labels));
});

test("NMI's DNAT target: --host-ip (the node's IP when it is a fieldRef), else the listen address, 0.0.0.0 meaning 127.0.0.1", () => {
  const nmi = (args: string[]) => ({ spec: { containers: [{ name: "nmi", args }] } }) as V1Pod;
  assert.deepEqual(dnatTarget(nmi(["--host-ip=$(HOST_IP)"]), "10.240.0.4"), { ip: "10.240.0.4", port: 2579 });
  assert.deepEqual(dnatTarget(nmi(["--host-ip=10.0.0.9", "--nmi-port=3000"]), "10.240.0.4"), { ip: "10.0.0.9", port: 3000 });
  assert.deepEqual(dnatTarget(nmi([]), "10.240.0.4"), { ip: "127.0.0.1", port: 2579 }, "upstream since v1.6.2");
  assert.deepEqual(dnatTarget(nmi(["--nmi-listen-address=0.0.0.0"]), undefined), { ip: "127.0.0.1", port: 2579 });
  assert.deepEqual(dnatTarget(undefined, undefined), { ip: "127.0.0.1", port: 2579 });
});

test("the host-token client sends podname/podns, keeps NMI's refusal, drops the token, and tells unreachable from silent", async () => {
  const seen: Record<string, string | string[] | undefined>[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    if (req.headers.podname === "ok") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ token: { access_token: "secret", expires_on: "1700000000" }, clientid: "c1" }));
    } else if (req.headers.podname === "far") {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(`${HOST_NOT_ALLOWED}\n`);
    } else if (req.headers.podname === "slow") {
      /* never answers */
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("pod default/x has no aadpodidbinding label, so no AzureIdentityBinding selects it\n");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const ask = (pod: string, p = port) => askHostToken({ host: "127.0.0.1", port: p, namespace: "default", pod, resource: "https://management.azure.com/", connectTimeoutMs: 1000, answerTimeoutMs: 500 });
  try {
    const ok = await ask("ok");
    assert.deepEqual(ok, { status: 200, clientId: "c1", expiresOn: "2023-11-14T22:13:20.000Z" });
    assert.doesNotMatch(JSON.stringify(ok), /secret/);
    assert.equal(seen[0].podns, "default");
    assert.equal(seen[0].metadata, "true");
    assert.deepEqual(await ask("far"), { status: 500, message: HOST_NOT_ALLOWED });
    assert.deepEqual(await ask("x"), { status: 404, message: "pod default/x has no aadpodidbinding label, so no AzureIdentityBinding selects it" });
    const slow = await ask("slow");
    assert.equal(slow.status, undefined);
    assert.match(slow.error!, /did not answer/);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  const gone = await ask("ok", port);
  assert.equal(gone.status, undefined);
  assert.match(gone.error!, /ECONNREFUSED/);
});
