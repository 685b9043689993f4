import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ManagedIdentityCredential } from "@azure/identity";
import type { VirtualMachineScaleSetUpdate } from "@azure/arm-compute";
import { decodeJwt } from "jose";
import { connect } from "node:net";
import { assertArmError, rejectsWithArmError, startAzureSandbox, type AzureSandbox } from "../helpers/azure-sandbox.js";
import { ArmErrors } from "../../src/sandbox/azure/arm-errors.js";

let sb: AzureSandbox;
const sandboxLog: string[] = [];
let nodeRg: string;
let vmssName: string;
let kubeletId: string;
before(async () => {
  sb = await startAzureSandbox({ nodes: 2, log: (l) => sandboxLog.push(l) });
  nodeRg = sb.seed.nodeResourceGroup;
  vmssName = sb.seed.vmssName;
  kubeletId = `/subscriptions/${sb.subscriptionId}/resourceGroups/${nodeRg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${sb.seed.kubeletIdentityName}`;
  // MSAL fixes its IMDS endpoint once per process: this file's ManagedIdentityCredentials all ask node 0.
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = sb.cloud.endpoints.imds[sb.seed.nodes[0].name];
});
after(async () => {
  await sb?.close();
});

async function newIdentity() {
  const created = await sb.clients.msi.userAssignedIdentities.createOrUpdate(sb.seed.resourceGroup, `id-${randomUUID().slice(0, 8)}`, { location: "eastus" });
  return { id: created.id!, clientId: created.clientId!, principalId: created.principalId! };
}

/** `null` removes an identity in ARM's PATCH; the SDK's types do not say so. */
function identityPatch(entries: Record<string, object | null>): VirtualMachineScaleSetUpdate {
  return { identity: { type: "UserAssigned", userAssignedIdentities: entries as Record<string, object> } };
}

const attachedKeys = async () => {
  const vmss = await sb.clients.compute.virtualMachineScaleSets.get(nodeRg, vmssName);
  return Object.keys(vmss.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
};

test("the seeded scale set carries the kubelet identity, and its instances are the cluster's nodes", async () => {
  const vmss = await sb.clients.compute.virtualMachineScaleSets.get(nodeRg, vmssName);
  assert.equal(vmss.identity?.type, "UserAssigned");
  const kubelet = Object.entries(vmss.identity?.userAssignedIdentities ?? {})[0];
  assert.equal(kubelet[0].toLowerCase(), kubeletId.toLowerCase());
  const cluster = await sb.clients.aks.managedClusters.get(sb.seed.resourceGroup, sb.seed.clusterName);
  assert.equal(cluster.identityProfile?.kubeletidentity?.clientId, kubelet[1].clientId);
  assert.equal(cluster.nodeResourceGroup, nodeRg);
  assert.equal(cluster.identity?.type, "SystemAssigned");

  const vms = [];
  for await (const vm of sb.clients.compute.virtualMachineScaleSetVMs.list(nodeRg, vmssName)) vms.push(vm);
  assert.deepEqual(vms.map((v) => v.osProfile?.computerName), sb.seed.nodes.map((n) => n.name));
  const vm1 = await sb.clients.compute.virtualMachineScaleSetVMs.get(nodeRg, vmssName, "1");
  assert.equal(vm1.instanceId, "1");
  assert.equal(vm1.id?.toLowerCase(), sb.seed.nodes[1].vmId.toLowerCase(), "the node's providerID names this VM");
  const all = [];
  for await (const s of sb.clients.compute.virtualMachineScaleSets.listAll()) all.push(s.name);
  assert.deepEqual(all, [vmssName]);
});

test("PATCH adds identities and keeps absent ones; a null value removes one; ids compare case-insensitively", async () => {
  const { virtualMachineScaleSets } = sb.clients.compute;
  const a = await newIdentity();
  const b = await newIdentity();
  const updated = await virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [a.id]: {} }));
  assert.equal(updated.provisioningState, "Succeeded");
  assert.equal(updated.identity?.userAssignedIdentities?.[a.id]?.clientId, a.clientId);
  await virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [b.id.toUpperCase()]: {} }));
  assert.deepEqual(new Set(await attachedKeys()), new Set([kubeletId, a.id, b.id].map((k) => k.toLowerCase())));

  await virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [a.id.toLowerCase()]: null }));
  assert.deepEqual(new Set(await attachedKeys()), new Set([kubeletId, b.id].map((k) => k.toLowerCase())));
  await virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [b.id]: null }));
  assert.deepEqual(await attachedKeys(), [kubeletId.toLowerCase()]);
});

test("PUT replaces the identity map: keys left out are removed", async () => {
  const { virtualMachineScaleSets } = sb.clients.compute;
  const a = await newIdentity();
  const current = await virtualMachineScaleSets.get(nodeRg, vmssName);
  await virtualMachineScaleSets.beginCreateOrUpdateAndWait(nodeRg, vmssName, { ...current, identity: { type: "UserAssigned", userAssignedIdentities: { [kubeletId]: {}, [a.id]: {} } } });
  assert.deepEqual(new Set(await attachedKeys()), new Set([kubeletId, a.id].map((k) => k.toLowerCase())));
  await virtualMachineScaleSets.beginCreateOrUpdateAndWait(nodeRg, vmssName, { ...current, identity: { type: "UserAssigned", userAssignedIdentities: { [kubeletId]: {} } } });
  assert.deepEqual(await attachedKeys(), [kubeletId.toLowerCase()]);
});

test("attaching an identity that does not exist, or more than 150 at once, fails as Compute does", async () => {
  const vmssId = `/subscriptions/${sb.subscriptionId}/resourceGroups/${nodeRg}/providers/Microsoft.Compute/virtualMachineScaleSets/${vmssName}`;
  const ghost = `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ghost`;
  await rejectsWithArmError(sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [ghost]: {} })), ArmErrors.identityNotFound(vmssId, ghost));
  const many = Object.fromEntries(Array.from({ length: 151 }, (_, i) => [`${ghost}${i}`, null]));
  await rejectsWithArmError(sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch(many)), ArmErrors.tooManyIdentities(vmssId, 151));
  await rejectsWithArmError(
    sb.clients.compute.virtualMachineScaleSets.get(nodeRg, "no-such-vmss"),
    ArmErrors.resourceNotFound("Microsoft.Compute/virtualMachineScaleSets/no-such-vmss", nodeRg),
  );
});

test("IMDS issues a token only for an identity attached to the node's scale set", async () => {
  const identity = await newIdentity();
  const scope = `${sb.cloud.endpoints.armResourceId}.default`;
  await assert.rejects(new ManagedIdentityCredential({ clientId: identity.clientId }).getToken(scope), /Identity not found/);

  await sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [identity.id]: {} }));
  const token = await new ManagedIdentityCredential({ clientId: identity.clientId }).getToken(scope);
  const claims = decodeJwt(token.token);
  assert.equal(claims.oid, identity.principalId);
  assert.equal(claims.appid, identity.clientId);
  assert.equal(claims.xms_mirid, identity.id);
  assert.equal(claims.aud, sb.cloud.endpoints.arm, "@azure/identity asks for the scope minus '/.default'");

  const byResourceId = await new ManagedIdentityCredential({ resourceId: identity.id }).getToken(scope);
  assert.equal(decodeJwt(byResourceId.token).oid, identity.principalId);

  // Another node of the same scale set serves the same identities (raw, the shape real IMDS answers with).
  const node1 = sb.cloud.endpoints.imds[sb.seed.nodes[1].name];
  const res = await sb.raw(`${node1}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(sb.cloud.endpoints.armResourceId)}&object_id=${identity.principalId}`, { headers: { Metadata: "true" } });
  assert.equal(res.status, 200);
  const body = res.json as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ["access_token", "client_id", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"]);
  assert.ok(Object.values(body).every((v) => typeof v === "string"), "IMDS sends every value as a string");
  assert.equal(body.token_type, "Bearer");
  assert.equal(body.client_id, identity.clientId);

  await sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [identity.id]: null }));
  const detached = await sb.raw(`${node1}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net&client_id=${identity.clientId}`, { headers: { Metadata: "true" } });
  assert.equal(detached.status, 400);
  assert.deepEqual(detached.json, { error: "invalid_request", error_description: "Identity not found" });
});

test("IMDS answers malformed requests as the real one does", async () => {
  const imds = sb.cloud.endpoints.imds[sb.seed.nodes[0].name];
  const probe = await sb.raw(`${imds}/metadata/identity/oauth2/token`);
  assert.equal(probe.status, 400, "the availability probe (no Metadata header) gets a fast 400");
  assert.deepEqual(probe.json, { error: "invalid_request", error_description: "Required metadata header not specified" });

  const a = await newIdentity();
  await sb.clients.compute.virtualMachineScaleSets.beginUpdateAndWait(nodeRg, vmssName, identityPatch({ [a.id]: {} }));
  const ambiguous = await sb.raw(`${imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`, { headers: { Metadata: "true" } });
  assert.equal(ambiguous.status, 400);
  assert.match((ambiguous.json as { error_description: string }).error_description, /Multiple user assigned identities exist/);

  const noResource = await sb.raw(`${imds}/metadata/identity/oauth2/token?api-version=2018-02-01`, { headers: { Metadata: "true" } });
  assert.equal(noResource.status, 400);

  const instance = await sb.raw(`${imds}/metadata/instance?api-version=2021-02-01`, { headers: { Metadata: "true" } });
  assert.equal(instance.status, 200);
  const compute = (instance.json as { compute: Record<string, string> }).compute;
  assert.equal(compute.vmScaleSetName, vmssName);
  assert.equal(compute.resourceGroupName, nodeRg);
  assert.equal(compute.subscriptionId, sb.subscriptionId);
  assert.equal(compute.osType, "Linux");
  assert.equal(compute.vmId, sb.seed.nodes[0].vmUuid);

  assert.equal((await sb.raw(`${imds}/metadata/nothing-here`, { headers: { Metadata: "true" } })).status, 404);
});

/** The bytes exactly as written, on one connection; the answer's status and body. */
function rawImds(port: number, request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    let text = "";
    socket.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      const [head, body = ""] = text.split("\r\n\r\n");
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? -1);
      if (length >= 0 && body.length >= length) {
        socket.destroy();
        resolve({ status: Number(head.slice(9, 12)), body: body.slice(0, length) });
      }
    });
    socket.on("error", reject);
  });
}

test("IMDS reads requests as a permissive HTTP server does: the absolute form, any path spelling; GET only; every request logged as sent", async () => {
  const imds = new URL(sb.cloud.endpoints.imds[sb.seed.nodes[0].name]);
  const port = Number(imds.port);
  const kubelet = (await sb.clients.msi.userAssignedIdentities.get(nodeRg, sb.seed.kubeletIdentityName)).clientId!;
  const query = `?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=${kubelet}`;
  // A server that normalizes paths answers every one of these as the token route (what NMI must never forward).
  for (const target of [
    `http://169.254.169.254/metadata/identity/oauth2/token${query}`,
    `/metadata/./identity/oauth2/token${query}`,
    `/x/../metadata/identity/oauth2/token${query}`,
    `//metadata/identity/oauth2/token${query}`,
    `/metadata%2Fidentity%2Foauth2%2Ftoken${query}`,
    `/metadata/identity/oauth2/%74oken${query}`,
    `/metadata/identity\\oauth2\\token${query}`,
    `/METADATA/IDENTITY/OAUTH2/TOKEN/${query}`,
  ]) {
    const r = await rawImds(port, `GET ${target} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\n\r\n`);
    assert.equal(r.status, 200, `${target}: ${r.body}`);
    assert.equal(decodeJwt((JSON.parse(r.body) as { access_token: string }).access_token).appid, kubelet, target);
    assert.ok(sandboxLog.some((l) => l.startsWith(`imds[${sb.seed.nodes[0].name}] GET `) && l.includes(" 200 ") && l.endsWith(`from 127.0.0.1 target ${JSON.stringify(target)}`)), `logged with its raw target: ${target}`);
  }
  const post = await rawImds(port, `POST /metadata/identity/oauth2/token${query} HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nContent-Length: 0\r\n\r\n`);
  assert.equal(post.status, 405);
  assert.deepEqual(JSON.parse(post.body), { error: "invalid_request", error_description: 'Http method not allowed: path = "/metadata/identity/oauth2/token", method = "POST"' });
  const repeated = await rawImds(port, `GET /metadata/identity/oauth2/token${query}&client_id=${kubelet} HTTP/1.1\r\nHost: x\r\nMetadata: true\r\n\r\n`);
  assert.equal(repeated.status, 400, "IMDS refuses repeated query parameters");
  const proxied = await rawImds(port, `GET /metadata/identity/oauth2/token${query} HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n`);
  assert.equal(proxied.status, 400, "IMDS refuses requests that came through a proxy");
});

test("managed clusters: get, list, and switching the network plugin", async () => {
  const { managedClusters } = sb.clients.aks;
  const listed = [];
  for await (const c of managedClusters.list()) listed.push(c.name);
  assert.deepEqual(listed, [sb.seed.clusterName]);
  const cluster = await managedClusters.get(sb.seed.resourceGroup, sb.seed.clusterName);
  assert.equal(cluster.networkProfile?.networkPlugin, "azure");
  assert.equal(cluster.agentPoolProfiles?.[0].count, sb.seed.nodes.length);
  assert.ok(cluster.fqdn?.endsWith(".azmk8s.io"));
  const kubenet = await managedClusters.beginCreateOrUpdateAndWait(sb.seed.resourceGroup, sb.seed.clusterName, {
    ...cluster,
    networkProfile: { ...cluster.networkProfile, networkPlugin: "kubenet", networkPluginMode: undefined },
  });
  assert.equal(kubenet.networkProfile?.networkPlugin, "kubenet");
  const missing = await sb.arm("GET", `/subscriptions/${sb.subscriptionId}/resourceGroups/${sb.seed.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/nope?api-version=2024-09-01`);
  assertArmError(missing, ArmErrors.resourceNotFound("Microsoft.ContainerService/managedClusters/nope", sb.seed.resourceGroup));
});
