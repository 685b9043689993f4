import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { decodeJwt } from "jose";
import { imdsPath } from "../../src/sandbox/azure/handlers/imds.js";
import { originForm } from "../../src/sandbox/http/server.js";
import { createTopology, inNs, NETNS_SKIP, type Topology } from "../helpers/netns.js";
import { settlesWithin } from "../helpers/eventually.js";
import { startNetnsNode, startRawClient, type NetnsNode, type RawClient, type RawExchange, type Window } from "../helpers/nmi-netns.js";

/**
 * The theft battery: pods in real network namespaces behind NMI's own iptables redirect, sending requests over raw
 * sockets (each path goes out exactly as written) as an attacker would, to get a token that is not theirs. Each
 * case asserts the answer (no token that is not the pod's own), NMI's decision line, and — from the sandbox IMDS's
 * log of every request it received — that nothing token-related reached IMDS. The sandbox IMDS resolves paths as a
 * permissive server does, so any disguised token request NMI let through would be answered there with a token.
 */
const skip = NETNS_SKIP;
if (skip) console.log(`# nmi-theft: skipped: ${skip}`);

/** The pods, by their namespace index in the topology. */
const POD = { victim: 0, thief: 1, bare: 2, agent: 3, microsvc: 4, micfake: 5, mic: 6, forged: 7, intruder: 8 } as const;
type PodName = keyof typeof POD;
const BINDING = { aadpodidbinding: "theft" };

let topology: Topology | undefined;
let node: NetnsNode | undefined;
const clients = new Map<PodName, RawClient>();
let A: { clientId: string; id: string; principalId: string };
let B: { clientId: string; id: string; principalId: string };
let K: { clientId: string; id: string; principalId: string };
let resource: string;

before(async () => {
  if (skip) return;
  topology = createTopology(Object.keys(POD).length);
  node = await startNetnsNode(topology, {
    identities: ["theft-a", "theft-b"],
    nodeOnlyIdentities: ["theft-node"],
    aliases: [{ name: "theft-n", namespace: "default", of: "theft-a", annotations: { "aadpodidentity.k8s.io/Behavior": "namespaced" } }],
    namespaces: ["team"],
    exceptions: [{ namespace: "default", name: "node-agent", podLabels: { app: "node-agent" } }],
    pods: [
      { pod: POD.victim, namespace: "default", name: "victim", labels: BINDING, identity: "theft-a" },
      { pod: POD.thief, namespace: "default", name: "thief", labels: BINDING, identity: "theft-b" },
      { pod: POD.bare, namespace: "default", name: "bare" },
      { pod: POD.agent, namespace: "default", name: "agent", labels: { app: "node-agent" } },
      { pod: POD.microsvc, namespace: "default", name: "microsvc-5d8f7c-abcde", owner: { deployment: "microsvc", replicaSet: "microsvc-5d8f7c" } },
      { pod: POD.micfake, namespace: "default", name: "mic-7c9d4b-abcde", owner: { deployment: "mic", replicaSet: "mic-7c9d4b" } },
      { pod: POD.mic, namespace: "default", name: "podid-mic-6b8f9d-abcde", owner: { deployment: "podid-mic", replicaSet: "podid-mic-6b8f9d" } },
      { pod: POD.forged, namespace: "default", name: "podid-mic-6b8f9d-forged", owner: { deployment: "podid-mic", replicaSet: "podid-mic-6b8f9d", forgedUid: true } },
      { pod: POD.intruder, namespace: "team", name: "intruder", labels: BINDING, identity: "theft-n" },
    ],
    // Upstream's default MIC namespace, where its name-prefix shortcut applied: podid's MIC is the podid-mic chain.
    nmi: { micNamespace: "default" },
  });
  A = node.ready.identities["theft-a"];
  B = node.ready.identities["theft-b"];
  K = node.ready.identities["theft-node"];
  resource = node.ready.resource;
  for (const name of Object.keys(POD) as PodName[]) clients.set(name, startRawClient(topology.pods[POD[name]].ns));
});

after(() => {
  for (const c of clients.values()) c.close();
  node?.kill();
  topology?.remove();
});

const ipOf = (pod: PodName) => topology!.pods[POD[pod]].ip;
const TOKEN = "/metadata/identity/oauth2/token";
/** A token request's query: api-version, resource, then `extra` exactly as given (already encoded). */
const q = (extra = "") => `?api-version=2018-02-01&resource=${encodeURIComponent(resource)}${extra}`;
/** One request's bytes: request line as given, Host, Metadata: true unless replaced, extra header lines. */
function req(target: string, init: { method?: string; version?: string; headers?: string[]; metadata?: boolean; host?: boolean; body?: string } = {}): string {
  const lines = [`${init.method ?? "GET"} ${target} ${init.version ?? "HTTP/1.1"}`];
  if (init.host !== false) lines.push("Host: 169.254.169.254");
  if (init.metadata !== false) lines.push("Metadata: true");
  lines.push(...(init.headers ?? []));
  return lines.join("\r\n") + "\r\n\r\n" + (init.body ?? "");
}

/** Which identities' token requests may reach IMDS during a case (default: none — nothing token-related at all). */
type ImdsRule = "nothing" | { tokensFor: string[] } | { forwarded: string[] };

interface Case {
  name: string;
  from: PodName;
  send: string;
  /** Statuses of the responses, in order (pipelined requests answer one each, unless the connection is closed). */
  statuses: number[];
  /** Decision lines NMI must have written for this pod, e.g. "refused (non-canonical-token-path) status=400". */
  decisions: string[];
  /** Responses that carry the pod's own token, by index, and whose it must be. */
  ownToken?: { index: number; clientId: string }[];
  imds?: ImdsRule;
  send2?: { host: string; port: number };
}

/** The target of a sandbox IMDS log line, and the identity selector of it when IMDS would read it as a token request. */
function imdsRequest(line: string): { target: string; token: boolean; clientId?: string; objectId?: string; resourceId?: string } {
  const target = JSON.parse(/ target (".*")$/.exec(line)?.[1] ?? '""') as string;
  const url = new URL(`http://imds.invalid${originForm(target)}`);
  const token = imdsPath(url.pathname) === TOKEN;
  const p = url.searchParams;
  return { target, token, clientId: p.get("client_id") ?? undefined, objectId: p.get("object_id") ?? undefined, resourceId: p.get("msi_res_id") ?? p.get("mi_res_id") ?? undefined };
}

function checkCase(c: Case, got: RawExchange, seen: Window): void {
  const what = `${c.name}: ${got.error ?? ""} ${got.closed} ${got.raw.slice(0, 400)}`;
  assert.deepEqual(
    got.responses.map((r) => r.status),
    c.statuses,
    what,
  );
  got.responses.forEach((r, i) => {
    const own = c.ownToken?.find((o) => o.index === i);
    if (own) {
      assert.equal(decodeJwt(JSON.parse(r.body).access_token).appid, own.clientId, `${c.name}: response ${i} is the pod's own token`);
    } else {
      assert.ok(!r.body.includes("access_token") && !r.body.includes("eyJ"), `${c.name}: response ${i} carries no token: ${r.body.slice(0, 200)}`);
    }
  });
  if (!c.ownToken) assert.ok(!got.raw.includes("eyJ"), `${c.name}: no token anywhere on the wire`);
  const rule = c.imds ?? "nothing";
  const requests = seen.imds.map(imdsRequest);
  if (rule === "nothing") assert.deepEqual(seen.imds, [], `${c.name}: nothing reached IMDS`);
  else if ("tokensFor" in rule) {
    for (const r of requests) {
      assert.ok(r.token, `${c.name}: only token requests reached IMDS: ${r.target}`);
      assert.ok(r.clientId !== undefined && rule.tokensFor.map((x) => x.toLowerCase()).includes(r.clientId.toLowerCase()), `${c.name}: IMDS was asked only for ${rule.tokensFor.join(", ")}: ${r.target}`);
    }
  } else {
    assert.deepEqual(
      requests.map((r) => r.target),
      rule.forwarded,
      `${c.name}: exactly what NMI forwarded reached IMDS`,
    );
  }
  const source = ipOf(c.from);
  for (const d of c.decisions) {
    assert.ok(
      seen.nmi.some((l) => l.startsWith(`nmi: decision: ${d} source=${source} `)),
      `${c.name}: NMI logged "decision: ${d} source=${source}"; it logged:\n${seen.nmi.filter((l) => l.includes("decision:")).join("\n")}`,
    );
  }
  const logged = seen.nmi.join("\n");
  assert.ok(!logged.includes("eyJ"), `${c.name}: no token in NMI's log`);
  assert.ok(!logged.includes(A.clientId) && !logged.includes(B.clientId) && !logged.includes(K.clientId), `${c.name}: client ids are redacted in NMI's log`);
}

async function runCase(c: Case): Promise<void> {
  const got = await clients.get(c.from)!.send(c.send, { ...c.send2, responses: c.statuses.length });
  const seen = await node!.mark();
  checkCase(c, got, seen);
}

/** Runs every case and fails once, listing each case that failed (one broken rule shows all it breaks). */
async function runCases(all: Case[]): Promise<void> {
  const failures: string[] = [];
  for (const c of all) {
    try {
      await runCase(c);
    } catch (err) {
      failures.push(`- ${(err as Error).message.split("\n").slice(0, 6).join("\n  ")}`);
    }
  }
  assert.equal(failures.length, 0, `${failures.length} of ${all.length} cases failed:\n${failures.join("\n")}`);
}

/** The cases, built once the identities are known. */
function cases(): Case[] {
  const refused = (reason: string, status: number) => `refused (${reason}) status=${status}`;
  const variant = refused("non-canonical-token-path", 400);
  const malformed = refused("malformed-request", 400);
  const notAssigned = refused("not-assigned", 404);
  const fenced = refused("fenced-identity", 403);
  const victim = ipOf("victim");
  const hostHeaders = ["podname: victim", "podns: default"];
  const theft: Case[] = [
    // A pod bound to B asks for A.
    { name: "plain request for another pod's client_id", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [404], decisions: [notAssigned] },
    { name: "plain request for another pod's mi_res_id", from: "thief", send: req(TOKEN + q(`&mi_res_id=${encodeURIComponent(A.id)}`)), statuses: [404], decisions: [notAssigned] },
    { name: "msi_res_id in upper case", from: "thief", send: req(TOKEN + q(`&msi_res_id=${encodeURIComponent(A.id.toUpperCase())}`)), statuses: [404], decisions: [notAssigned] },
    { name: "client_id in upper case", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId.toUpperCase()}`)), statuses: [404], decisions: [notAssigned] },
    { name: "object_id of another pod's identity", from: "thief", send: req(TOKEN + q(`&object_id=${A.principalId}`)), statuses: [404], decisions: [notAssigned], imds: { tokensFor: [B.clientId] } },
    { name: "/metadata/./identity (dot segment)", from: "thief", send: req(`/metadata/./identity/oauth2/token${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "/x/../metadata (dot-dot segment)", from: "thief", send: req(`/x/../metadata/identity/oauth2/token${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "/%2e/metadata (encoded dot segment)", from: "thief", send: req(`/%2e/metadata/identity/oauth2/token${q(`&mi_res_id=${encodeURIComponent(A.id)}`)}`), statuses: [400], decisions: [variant] },
    { name: "//metadata (double slash)", from: "thief", send: req(`//metadata/identity/oauth2/token${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "%2F as separators", from: "thief", send: req(`/metadata%2Fidentity%2Foauth2%2Ftoken${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "an encoded letter (%74oken)", from: "thief", send: req(`/metadata/identity/oauth2/%74oken${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "backslashes (CVE-2022-23551)", from: "thief", send: req(`/metadata/identity\\oauth2\\token/${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "%5C backslashes", from: "thief", send: req(`/metadata/identity%5Coauth2%5Ctoken${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "a trailing /. segment", from: "thief", send: req(`${TOKEN}/.${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "all upper case", from: "thief", send: req(`/METADATA/IDENTITY/OAUTH2/TOKEN${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "through /metadata/instance/..", from: "thief", send: req(`/metadata/instance/../identity/oauth2/token${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "encoded dot-dot inside", from: "thief", send: req(`/metadata/identity/oauth2/x/%2e%2e/token${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "backslash and dots combined", from: "thief", send: req(`/metadata\\.\\identity/x/..//oauth2%5C%74oken${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "a ;path parameter", from: "thief", send: req(`${TOKEN};x=y${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "an encoded ? (%3F) in the path", from: "thief", send: req(`${TOKEN}%3Fclient_id=${A.clientId}${q()}`), statuses: [400], decisions: [malformed] },
    { name: "an encoded # (%23) in the path", from: "thief", send: req(`${TOKEN}%23${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "an encoded NUL", from: "thief", send: req(`${TOKEN}%00${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "double encoding (%252e%252e)", from: "thief", send: req(`/metadata/identity/oauth2/%252e%252e/oauth2/token${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "a trailing dot (token.)", from: "thief", send: req(`${TOKEN}.${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "a Cyrillic look-alike letter", from: "thief", send: req(`/metadata/identity/oauth2/toke%D0%BF${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "a fullwidth solidus", from: "thief", send: req(`/metadata/identity/oauth2%EF%BC%8Ftoken${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "a fragment", from: "thief", send: req(`${TOKEN}${q(`&client_id=${A.clientId}`)}#x`), statuses: [400], decisions: [malformed] },
    { name: "absolute form, the token route: read as such", from: "thief", send: req(`http://169.254.169.254${TOKEN}${q(`&client_id=${A.clientId}`)}`), statuses: [404], decisions: [notAssigned] },
    { name: "absolute form with a dot-dot path", from: "thief", send: req(`http://169.254.169.254/x/..${TOKEN}${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "absolute form naming another host", from: "thief", send: req(`http://evil.example${TOKEN}${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [malformed] },
    { name: "absolute form naming NMI's host route", from: "thief", send: req(`http://${topology!.hostIp}:2579/host/token/${q()}`, { headers: hostHeaders }), statuses: [500], decisions: [refused("not-from-host", 500)] },
    { name: "client_id twice (own first)", from: "thief", send: req(TOKEN + q(`&client_id=${B.clientId}&client_id=${A.clientId}`)), statuses: [400], decisions: [malformed] },
    { name: "client_id and CLIENT_ID", from: "thief", send: req(TOKEN + q(`&client_id=${B.clientId}&CLIENT_ID=${A.clientId}`)), statuses: [400], decisions: [malformed] },
    { name: "its own client_id and another's msi_res_id", from: "thief", send: req(TOKEN + q(`&client_id=${B.clientId}&msi_res_id=${encodeURIComponent(A.id)}`)), statuses: [400], decisions: [malformed] },
    { name: "';' as a query separator", from: "thief", send: req(TOKEN + q(`;client_id=${A.clientId}`)), statuses: [400], decisions: [malformed] },
    { name: "a non-ASCII client_id", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}%EF%BC%8D`)), statuses: [400], decisions: [malformed] },
    { name: "X-Forwarded-For: the victim", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { headers: [`X-Forwarded-For: ${victim}`, `X-Real-IP: ${victim}`, `Forwarded: for=${victim}`] }), statuses: [404], decisions: [notAssigned] },
    { name: "podname/podns headers on the token route", from: "thief", send: req(TOKEN + q(), { headers: hostHeaders }), statuses: [200], ownToken: [{ index: 0, clientId: B.clientId }], decisions: ["issued (assigned-identity) status=200"], imds: { tokensFor: [B.clientId] } },
    { name: "the host route from a pod", from: "thief", send: req(`/host/token/${q()}`, { headers: hostHeaders }), statuses: [500], decisions: [refused("not-from-host", 500)] },
    { name: "the host route with Host: 127.0.0.1", from: "thief", send: req(`/host/token/${q()}`, { headers: [...hostHeaders, "Host: 127.0.0.1"], host: false }), statuses: [500], decisions: [refused("not-from-host", 500)] },
    { name: "a variant of the host route", from: "thief", send: req(`//host/token/${q()}`, { headers: hostHeaders }), statuses: [400], decisions: [variant] },
    { name: "the host route straight to NMI's address", from: "thief", send: req(`/host/token/${q()}`, { headers: hostHeaders }), send2: { host: topology!.hostIp, port: 2579 }, statuses: [500], decisions: [refused("not-from-host", 500)] },
    { name: "no Metadata header", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { metadata: false }), statuses: [400], decisions: [refused("missing-metadata-header", 400)] },
    { name: "two Metadata headers", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { headers: ["Metadata: true"] }), statuses: [400], decisions: [refused("missing-metadata-header", 400)] },
    { name: "Metadata: True", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { metadata: false, headers: ["Metadata: True"] }), statuses: [400], decisions: [refused("missing-metadata-header", 400)] },
    { name: "POST to the token route", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { method: "POST", headers: ["Content-Length: 0"] }), statuses: [405], decisions: [refused("method-not-allowed", 405)] },
    { name: "PUT to the token route", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { method: "PUT", headers: ["Content-Length: 0"] }), statuses: [405], decisions: [refused("method-not-allowed", 405)] },
    { name: "DELETE to the token route", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { method: "DELETE" }), statuses: [405], decisions: [refused("method-not-allowed", 405)] },
    { name: "CONNECT (a tunnel to the metadata address)", from: "thief", send: req("169.254.169.254:80", { method: "CONNECT" }) + req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [405], decisions: [refused("method-not-allowed", 405)] },
    { name: "OPTIONS *", from: "thief", send: req("*", { method: "OPTIONS" }), statuses: [400], decisions: [malformed] },
    { name: "a folded Metadata header (obs-fold)", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { metadata: false, headers: ["Metadata: tr", " ue"] }), statuses: [400], decisions: [refused("malformed-http", 400)] },
    { name: "a very long request-target", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}&pad=${"a".repeat(6000)}`)), statuses: [414], decisions: [refused("target-too-long", 414)] },
    { name: "very large headers", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { headers: [`X-Pad: ${"a".repeat(10_000)}`] }), statuses: [431], decisions: [refused("headers-too-large", 431)] },
    { name: "a GET with a body", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { headers: ["Content-Length: 5"], body: "hello" }), statuses: [400], decisions: [refused("unexpected-body", 400)] },
    { name: "a chunked GET", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { headers: ["Transfer-Encoding: chunked"], body: "0\r\n\r\n" }), statuses: [400], decisions: [refused("unexpected-body", 400)] },
    { name: "Content-Length and Transfer-Encoding (smuggling)", from: "thief", send: req(TOKEN + q(), { method: "POST", headers: ["Content-Length: 4", "Transfer-Encoding: chunked"], body: "0\r\n\r\n" + req(TOKEN + q(`&client_id=${A.clientId}`)) }), statuses: [400], decisions: [refused("malformed-http", 400)] },
    {
      name: "pipelined: its own token, then another's",
      from: "thief",
      send: req(TOKEN + q()) + req(TOKEN + q(`&client_id=${A.clientId}`)),
      statuses: [200, 404],
      ownToken: [{ index: 0, clientId: B.clientId }],
      decisions: ["issued (assigned-identity) status=200", notAssigned],
      imds: { tokensFor: [B.clientId] },
    },
    { name: "pipelined: a variant, then a plain request for another's", from: "thief", send: req(`/x/..${TOKEN}${q(`&client_id=${A.clientId}`)}`) + req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [400, 404], decisions: [variant, notAssigned] },
    { name: "pipelined: a malformed request closes the connection", from: "thief", send: req(`${TOKEN}%00${q()}`) + req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [400], decisions: [malformed] },
    { name: "pipelined: absolute-form variant after a plain one", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`)) + req(`http://169.254.169.254/metadata/./identity/oauth2/token${q(`&client_id=${A.clientId}`)}`), statuses: [404, 400], decisions: [notAssigned, variant] },
    { name: "HTTP/1.0 without Host for another's", from: "thief", send: req(TOKEN + q(`&client_id=${A.clientId}`), { version: "HTTP/1.0", host: false }), statuses: [404], decisions: [notAssigned] },
    // A pod with no binding label at all.
    { name: "unlabelled: plain", from: "bare", send: req(TOKEN + q()), statuses: [404], decisions: [notAssigned] },
    { name: "unlabelled: /x/../metadata for A", from: "bare", send: req(`/x/../metadata/identity/oauth2/token${q(`&client_id=${A.clientId}`)}`), statuses: [400], decisions: [variant] },
    { name: "unlabelled: /%2e/metadata by mi_res_id", from: "bare", send: req(`/%2e/metadata/identity/oauth2/token${q(`&mi_res_id=${encodeURIComponent(A.id)}`)}`), statuses: [400], decisions: [variant] },
    { name: "unlabelled: absolute form by mi_res_id", from: "bare", send: req(`http://169.254.169.254${TOKEN}${q(`&mi_res_id=${encodeURIComponent(A.id)}`)}`), statuses: [404], decisions: [notAssigned] },
    // An exception pod: passed to IMDS, fenced off every identity an AzureIdentity names.
    { name: "exception pod: client_id of A", from: "agent", send: req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [403], decisions: [fenced] },
    { name: "exception pod: CLIENT_ID of B, upper case", from: "agent", send: req(TOKEN + q(`&CLIENT_ID=${B.clientId.toUpperCase()}`)), statuses: [403], decisions: [fenced] },
    { name: "exception pod: client_id with blanks", from: "agent", send: req(TOKEN + q(`&client_id=%20${A.clientId}%20`)), statuses: [403], decisions: [fenced] },
    { name: "exception pod: mi_res_id of A, upper case", from: "agent", send: req(TOKEN + q(`&mi_res_id=${encodeURIComponent(A.id.toUpperCase())}`)), statuses: [403], decisions: [fenced] },
    { name: "exception pod: msi_res_id of B", from: "agent", send: req(TOKEN + q(`&msi_res_id=${encodeURIComponent(B.id)}`)), statuses: [403], decisions: [fenced] },
    // IMDS alone knows whose object id it is: it is asked (canonically), and its answer is checked and dropped.
    { name: "exception pod: object_id of A", from: "agent", send: req(TOKEN + q(`&object_id=${A.principalId}`)), statuses: [403], decisions: [fenced], imds: { forwarded: [`${TOKEN}${q(`&object_id=${A.principalId}`)}`] } },
    { name: "exception pod: a node-only client_id and A's mi_res_id", from: "agent", send: req(TOKEN + q(`&client_id=${K.clientId}&mi_res_id=${encodeURIComponent(A.id)}`)), statuses: [400], decisions: [malformed] },
    { name: "exception pod: A's client_id hidden in the resource", from: "agent", send: req(TOKEN + `?api-version=2018-02-01&resource=${encodeURIComponent(resource)}%26client_id%3D${A.clientId}`), statuses: [400], decisions: ["passed-through (exception-pod) status=400"], imds: { forwarded: [`${TOKEN}?api-version=2018-02-01&resource=${encodeURIComponent(`${resource}&client_id=${A.clientId}`)}`] } },
    { name: "exception pod: a variant path", from: "agent", send: req(`/metadata/./identity/oauth2/token${q(`&client_id=${K.clientId}`)}`), statuses: [400], decisions: [variant] },
    // A workload named like MIC, a ReplicaSet named mic*, a forged owner reference: none is MIC.
    { name: "a Deployment named microsvc", from: "microsvc", send: req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [404], decisions: [notAssigned] },
    { name: "a ReplicaSet named mic-*", from: "micfake", send: req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [404], decisions: [notAssigned] },
    { name: "an owner reference forged to MIC's ReplicaSet", from: "forged", send: req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [404], decisions: [notAssigned] },
    { name: "MIC's own pod: fenced too", from: "mic", send: req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [403], decisions: [fenced] },
    // Namespaced mode: an identity of another namespace is not for this pod, even assigned.
    { name: "another namespace, namespaced identity, by client_id", from: "intruder", send: req(TOKEN + q(`&client_id=${A.clientId}`)), statuses: [404], decisions: [refused("namespaced-identity-elsewhere", 404)] },
    { name: "another namespace, namespaced identity, none named", from: "intruder", send: req(TOKEN + q()), statuses: [404], decisions: [refused("namespaced-identity-elsewhere", 404)] },
  ];
  return theft;
}

test("the theft battery: no request shape gets a pod a token that is not its own, and nothing token-related reaches IMDS", { skip }, async () => {
  const all = cases();
  assert.ok(all.length >= 40, `${all.length} cases`);
  await node!.mark();
  await runCases(all);
});

test("legitimate requests keep working: plain, absolute form, HTTP/1.0, exempt pods' node identity, instance metadata (canonical)", { skip }, async () => {
  const instance = "/metadata/instance?api-version=2021-02-01";
  const legit: Case[] = [
    { name: "the victim's own token, plain", from: "victim", send: req(TOKEN + q()), statuses: [200], ownToken: [{ index: 0, clientId: A.clientId }], decisions: ["issued (assigned-identity) status=200"], imds: { tokensFor: [A.clientId] } },
    { name: "its own, absolute form", from: "victim", send: req(`http://169.254.169.254${TOKEN}${q(`&client_id=${A.clientId}`)}`), statuses: [200], ownToken: [{ index: 0, clientId: A.clientId }], decisions: ["issued (assigned-identity) status=200"], imds: { tokensFor: [A.clientId] } },
    { name: "its own, HTTP/1.0 without Host", from: "victim", send: req(TOKEN + q(), { version: "HTTP/1.0", host: false }), statuses: [200], ownToken: [{ index: 0, clientId: A.clientId }], decisions: ["issued (assigned-identity) status=200"], imds: { tokensFor: [A.clientId] } },
    { name: "its own by object_id", from: "victim", send: req(TOKEN + q(`&object_id=${A.principalId.toUpperCase()}`)), statuses: [200], ownToken: [{ index: 0, clientId: A.clientId }], decisions: ["issued (assigned-identity) status=200"], imds: { tokensFor: [A.clientId] } },
    { name: "instance metadata, forwarded", from: "victim", send: req(instance), statuses: [200], decisions: [], imds: { forwarded: [instance] } },
    { name: "instance metadata in a variant spelling: forwarded canonically", from: "victim", send: req(`/METADATA/./instance//?api-version=2021-02-01`), statuses: [200], decisions: [], imds: { forwarded: [instance] } },
    { name: "exception pod: the node-only identity", from: "agent", send: req(TOKEN + q(`&client_id=${K.clientId}`)), statuses: [200], ownToken: [{ index: 0, clientId: K.clientId }], decisions: ["passed-through (exception-pod) status=200"], imds: { forwarded: [`${TOKEN}${q(`&client_id=${K.clientId}`)}`] } },
    { name: "exception pod: none named (IMDS chooses, and refuses: several on the node)", from: "agent", send: req(TOKEN + q()), statuses: [400], decisions: ["passed-through (exception-pod) status=400"], imds: { forwarded: [`${TOKEN}${q()}`] } },
    { name: "MIC's own pod: the node-only identity", from: "mic", send: req(TOKEN + q(`&client_id=${K.clientId}`)), statuses: [200], ownToken: [{ index: 0, clientId: K.clientId }], decisions: ["passed-through (mic-pod) status=200"], imds: { forwarded: [`${TOKEN}${q(`&client_id=${K.clientId}`)}`] } },
  ];
  await node!.mark();
  await runCases(legit);

  // curl as a user types it, and curl --path-as-is with a disguise.
  const curl = (pod: PodName, ...args: string[]) => inNs(topology!.pods[POD[pod]].ns, "curl", "-s", "-w", "\n%{http_code}", "-H", "Metadata: true", ...args);
  const plain = curl("victim", `http://169.254.169.254${TOKEN}${q()}`);
  const [body, code] = [plain.stdout.slice(0, plain.stdout.lastIndexOf("\n")), plain.stdout.slice(plain.stdout.lastIndexOf("\n") + 1)];
  assert.equal(code, "200", plain.stdout + plain.stderr);
  assert.equal(decodeJwt(JSON.parse(body).access_token).appid, A.clientId);
  const disguised = curl("thief", "--path-as-is", `http://169.254.169.254/metadata/identity/oauth2/../oauth2/token${q(`&client_id=${A.clientId}`)}`);
  assert.match(disguised.stdout, /\n400$/);
  assert.ok(!disguised.stdout.includes("access_token"));
  await node!.mark();

  // The Azure SDK from the pod: ManagedIdentityCredential with no endpoint of its own.
  const script = fileURLToPath(new URL("../helpers/netns-msi-client.ts", import.meta.url));
  const env = { ...process.env };
  delete env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
  delete env.IDENTITY_ENDPOINT;
  delete env.MSI_ENDPOINT;
  const sdk = spawnSync("ip", ["netns", "exec", topology!.pods[POD.victim].ns, process.execPath, "--import", "tsx", script, resource], { encoding: "utf8", env, timeout: 60_000 });
  assert.deepEqual(JSON.parse(sdk.stdout.trim().split("\n").pop() ?? "{}"), { clientId: A.clientId }, sdk.stderr);
  const sdkOther = spawnSync("ip", ["netns", "exec", topology!.pods[POD.victim].ns, process.execPath, "--import", "tsx", script, resource, B.clientId], { encoding: "utf8", env, timeout: 60_000 });
  assert.ok("error" in JSON.parse(sdkOther.stdout.trim().split("\n").pop() ?? "{}"), `asking for B through the SDK fails: ${sdkOther.stdout}`);
  const seen = await node!.mark();
  assert.ok(!seen.imds.map(imdsRequest).some((r) => r.token && r.clientId?.toLowerCase() === B.clientId.toLowerCase()), "IMDS was never asked for B");
});

test("a slow sender is cut off after the header timeout (408) and holds up no one meanwhile", { skip }, async () => {
  const slow = clients.get("thief")!.send(`GET ${TOKEN}${q()} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: tr`, { responses: 1, timeoutMs: 30_000 });
  let slowEnded = false;
  void slow.then(
    () => (slowEnded = true),
    () => (slowEnded = true),
  );
  const quick = await settlesWithin(clients.get("victim")!.send(req(TOKEN + q())), 30_000, "the victim's request beside the slow sender");
  assert.equal(quick.responses[0]?.status, 200, quick.raw.slice(0, 300));
  assert.equal(slowEnded, false, "served while the slow sender still holds its connection");
  const cut = await slow;
  assert.notEqual(cut.closed, "timeout", "NMI answered the slow sender and closed");
  assert.deepEqual(
    cut.responses.map((r) => r.status),
    [408],
  );
  const seen = await node!.mark();
  assert.ok(seen.nmi.some((l) => l.startsWith(`nmi: decision: refused (request-timeout) status=408 source=${ipOf("thief")} `)), seen.nmi.join("\n"));
});
