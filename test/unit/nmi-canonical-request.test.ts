import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalRequest, MAX_TARGET_LENGTH, queryParam, type CanonicalOptions, type CanonicalResult } from "../../src/runtime/nmi/canonical-request.js";

const OPTIONS: CanonicalOptions = {
  authorities: new Set(["169.254.169.254", "169.254.169.254:80", "10.0.0.4", "10.0.0.4:2579"]),
  metadataHeaderRequired: true,
  blockInstanceMetadata: false,
};
const META = ["Host", "169.254.169.254", "Metadata", "true"];

function canonical(target: string, init: { method?: string; headers?: string[]; options?: Partial<CanonicalOptions> } = {}): CanonicalResult {
  return canonicalRequest({ method: init.method ?? "GET", target, rawHeaders: init.headers ?? META }, { ...OPTIONS, ...init.options });
}
const accepted = (target: string, init?: Parameters<typeof canonical>[1]) => {
  const r = canonical(target, init);
  assert.ok(r.ok, `${target}: ${JSON.stringify(!r.ok && r.refusal)}`);
  return r.request;
};
const refused = (target: string, init?: Parameters<typeof canonical>[1]) => {
  const r = canonical(target, init);
  assert.ok(!r.ok, `${target} was accepted as ${JSON.stringify(r.ok && r.request)}`);
  return r.refusal;
};

test("the token route is served only when sent exactly (\"metadata\" in any case, one trailing slash)", () => {
  for (const target of ["/metadata/identity/oauth2/token", "/metadata/identity/oauth2/token/", "/METADATA/identity/oauth2/token", "/Metadata/identity/oauth2/token?resource=x"]) {
    const r = accepted(target);
    assert.equal(r.route, "token", target);
    assert.equal(r.path, "/metadata/identity/oauth2/token");
  }
});

test("every spelling that canonicalizes to the token route but is not it is refused, never routed or forwarded", () => {
  const variants = [
    "/metadata/./identity/oauth2/token",
    "/x/../metadata/identity/oauth2/token",
    "/%2e/metadata/identity/oauth2/token",
    "/x/%2E%2E/metadata/identity/oauth2/token",
    "//metadata/identity/oauth2/token",
    "/metadata//identity/oauth2/token",
    "/metadata/identity/oauth2/token//",
    "/metadata%2Fidentity%2Foauth2%2Ftoken",
    "/metadata%2fidentity%2foauth2%2ftoken",
    "/metadata/identity/oauth2/%74oken",
    "/metadata/%69dentity/oauth2/token",
    "/%6detadata/identity/oauth2/token",
    "/metadata/identity\\oauth2\\token",
    "/metadata/identity\\oauth2\\token/",
    "/metadata\\identity\\oauth2\\token",
    "/metadata/identity%5Coauth2%5Ctoken",
    "/metadata/identity/oauth2/token/.",
    "/metadata/identity/oauth2/token/x/..",
    "/metadata/instance/../identity/oauth2/token",
    "/metadata/identity/oauth2/x/../token",
    "/METADATA/IDENTITY/OAUTH2/TOKEN",
    "/metadata/Identity/oauth2/token",
    "/metadata/identity/OAuth2/Token",
  ];
  for (const target of variants) {
    const r = refused(target);
    assert.equal(r.status, 400, target);
    assert.equal(r.reason, "non-canonical-token-path", target);
  }
  for (const target of ["http://169.254.169.254/x/../metadata/identity/oauth2/token", "http://169.254.169.254//metadata/identity/oauth2/token"]) {
    assert.equal(refused(target).reason, "non-canonical-token-path", target);
  }
});

test("ambiguous or malformed paths are refused rather than guessed at", () => {
  const malformed: Record<string, string> = {
    "/metadata/identity/oauth2/token%00": "NUL",
    "/metadata/identity/oauth2/token%3Fclient_id=x": "an encoded '?'",
    "/metadata/identity/oauth2/token%23x": "an encoded '#'",
    "/metadata/identity/oauth2/token;x=y": "a path parameter",
    "/metadata/identity/oauth2;/token": "a ';' segment",
    "/metadata/identity/oauth2/%252e%252e/token": "double encoding",
    "/metadata/identity/oauth2/to%2": "a truncated escape",
    "/metadata/identity/oauth2/to%zzken": "a bad escape",
    "/metadata/identity/oauth2/token.": "a trailing dot (Windows servers drop it)",
    "/metadata/identity./oauth2/token": "a trailing dot",
    "/metadata/identity/oauth2/toke%D0%BF": "a Cyrillic look-alike",
    "/metadata/identity/oauth2%EF%BC%8Ftoken": "a fullwidth solidus",
    "/metadata/identity/oauth2/token%20": "a trailing space",
    "/metadata/identity/oauth2/token%09": "a tab",
    "/../metadata/identity/oauth2/token": "climbing above the root",
    "/metadata/identity/oauth2/token#frag": "a fragment",
    "*": "the asterisk form",
    "metadata/identity/oauth2/token": "no leading slash",
    "https://169.254.169.254/metadata/identity/oauth2/token": "https",
    "http://evil.example/metadata/identity/oauth2/token": "another host",
    "http://169.254.169.254:8080/metadata/identity/oauth2/token": "another port",
    "http://user@169.254.169.254/metadata/identity/oauth2/token": "userinfo",
    "http://169.254.169.254./metadata/identity/oauth2/token": "a trailing dot on the host",
    "http://2852039166/metadata/identity/oauth2/token": "the metadata address as one number",
    "/metadata/identity/oauth2/token\u00e9": "raw non-ASCII",
  };
  for (const [target, what] of Object.entries(malformed)) {
    const r = refused(target);
    assert.equal(r.status, 400, `${what}: ${target}`);
    assert.ok(r.reason === "malformed-request", `${what}: ${target} -> ${r.reason}`);
  }
  const long = refused(`/metadata/instance?x=${"a".repeat(MAX_TARGET_LENGTH)}`);
  assert.equal(long.status, 414);
  assert.equal(long.reason, "target-too-long");
});

test("the absolute form becomes the origin form when it names the metadata address or this node", () => {
  for (const target of ["http://169.254.169.254/metadata/identity/oauth2/token?resource=x", "HTTP://169.254.169.254:80/metadata/identity/oauth2/token?resource=x", "http://10.0.0.4:2579/metadata/identity/oauth2/token?resource=x"]) {
    const r = accepted(target);
    assert.equal(r.route, "token");
    assert.equal(queryParam(r, "resource"), "x");
  }
  assert.equal(refused("http://169.254.169.254").reason, "not-forwarded", "no path: the root");
});

test("queries: decoded once, keys unique whatever their casing, no ';' separators, re-serialized for forwarding", () => {
  const r = accepted("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client%5Fid=Ab+C&&empty");
  assert.deepEqual(r.query, [
    ["api-version", "2018-02-01"],
    ["resource", "https://vault.azure.net"],
    ["client_id", "Ab C"],
    ["empty", ""],
  ]);
  assert.equal(queryParam(r, "CLIENT_ID"), "Ab C");
  assert.equal(r.search, "?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=Ab%20C&empty=");
  const bad: Record<string, string> = {
    "?client_id=a&client_id=b": "a repeated key",
    "?client_id=a&CLIENT_ID=b": "a repeated key in another case",
    "?client_id=a&client%5fid=b": "a repeated key, encoded",
    "?resource=x;client_id=a": "a ';' separator",
    "?client_id=%zz": "a bad escape",
    "?client_id=a%00": "NUL in a value",
    "?client_id=a%0d%0aX: y": "CR LF in a value",
    "?client_id=%C3%A9": "non-ASCII in a value",
    "?client%20id=a": "a blank in a key",
    "?%00=a": "NUL in a key",
  };
  bad["?client_id=a&msi_res_id=b"] = "two identities named";
  bad["?mi_res_id=a&msi_res_id=a"] = "both resource id spellings";
  bad["?object_id=a&CLIENT_ID=b"] = "object_id and client_id";
  for (const [query, what] of Object.entries(bad)) {
    const refusal = refused(`/metadata/identity/oauth2/token${query}`);
    assert.equal(refusal.status, 400, what);
    assert.equal(refusal.reason, "malformed-request", what);
  }
});

test("nothing under /metadata/identity but the token route; only the token-free IMDS categories are forwarded, canonically", () => {
  for (const target of ["/metadata/identity", "/metadata/identity/info", "/metadata/identity/oauth2/token/extra", "/metadata/identity/oauth2/authorize", "/metadata/IDENTITY/x"]) {
    const r = refused(target);
    assert.equal(r.status, 400, target);
    assert.ok(["identity-path"].includes(r.reason), `${target}: ${r.reason}`);
  }
  const forwarded: Record<string, string> = {
    "/metadata/instance?api-version=2021-02-01": "/metadata/instance",
    "/metadata/instance/compute/vmScaleSetName?api-version=2021-02-01&format=text": "/metadata/instance/compute/vmScaleSetName",
    "/METADATA/Instance/network/interface/0": "/metadata/instance/network/interface/0",
    "/metadata/attested/document?api-version=2020-09-01&nonce=1234": "/metadata/attested/document",
    "/metadata/scheduledevents?api-version=2020-07-01": "/metadata/scheduledevents",
    "/metadata/versions": "/metadata/versions",
    "/metadata/loadbalancer?api-version=2020-10-01": "/metadata/loadbalancer",
    "/metadata/./instance//compute/": "/metadata/instance/compute",
  };
  for (const [target, path] of Object.entries(forwarded)) {
    const r = accepted(target);
    assert.equal(r.route, "imds", target);
    assert.equal(r.path, path, target);
  }
  assert.equal(refused("/metadata/instance/com:pute").reason, "malformed-request", "forwarded segments hold letters, digits, '_' and '-' only");
  for (const target of ["/", "/doesnotexist", "/metadata", "/metadata/identityx/oauth2/token", "/latest/meta-data/", "/computeMetadata/v1/"]) {
    const r = refused(target);
    assert.equal(r.status, 404, target);
    assert.equal(r.reason, "not-forwarded", target);
  }
  assert.equal(refused("/doesnotexist", { headers: [] }).reason, "missing-metadata-header", "the header comes first on what would be proxied (upstream)");
});

test("methods: GET only on the token route and IMDS paths (POST on scheduled events), as IMDS", () => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]) {
    const r = refused("/metadata/identity/oauth2/token?resource=x", { method });
    assert.equal(r.status, 405, method);
    assert.deepEqual(r.allow, ["GET"]);
    assert.equal(r.message, `Http method not allowed: path = "/metadata/identity/oauth2/token", method = "${method}"`);
  }
  assert.equal(refused("/metadata/instance", { method: "POST" }).status, 405);
  assert.equal(accepted("/metadata/scheduledevents?api-version=2020-07-01", { method: "POST", headers: [...META, "Content-Length", "40"] }).method, "POST");
  assert.equal(refused("/host/token/?resource=x", { method: "POST", headers: ["podname", "p", "podns", "n"] }).status, 405);
});

test("the Metadata header: exactly one, exactly \"true\"; not needed on /host/token, /healthz, /metrics or when not required", () => {
  assert.equal(refused("/metadata/identity/oauth2/token", { headers: [] }).reason, "missing-metadata-header");
  assert.equal(refused("/metadata/identity/oauth2/token", { headers: ["Metadata", "True"] }).reason, "missing-metadata-header");
  assert.equal(refused("/metadata/identity/oauth2/token", { headers: ["Metadata", "true", "metadata", "true"] }).reason, "missing-metadata-header", "a duplicate");
  assert.equal(refused("/metadata/instance", { headers: ["Metadata", "false"] }).reason, "missing-metadata-header");
  assert.equal(accepted("/metadata/identity/oauth2/token", { headers: ["METADATA", "true"] }).route, "token");
  assert.equal(accepted("/metadata/identity/oauth2/token", { headers: [], options: { metadataHeaderRequired: false } }).route, "token");
  assert.equal(accepted("/host/token/?resource=x", { headers: ["podname", "p", "podns", "n"] }).route, "host-token");
  assert.equal(accepted("/healthz", { headers: [] }).route, "healthz");
  assert.equal(accepted("/metrics", { headers: [] }).route, "metrics");
});

test("the host token route is served only when sent exactly, the rest of its spellings refused", () => {
  assert.equal(accepted("/host/token?resource=x").route, "host-token");
  for (const target of ["//host/token/", "/HOST/token/", "/x/../host/token/", "/host%2Ftoken/", "/host\\token"]) assert.equal(refused(target).reason, "non-canonical-token-path", target);
});

test("a body where none is taken is refused; --block-instance-metadata refuses instance metadata before anything else", () => {
  assert.equal(refused("/metadata/identity/oauth2/token?resource=x", { headers: [...META, "Content-Length", "5"] }).reason, "unexpected-body");
  assert.equal(refused("/metadata/identity/oauth2/token?resource=x", { headers: [...META, "Transfer-Encoding", "chunked"] }).reason, "unexpected-body");
  assert.equal(accepted("/metadata/identity/oauth2/token?resource=x", { headers: [...META, "Content-Length", "0"] }).route, "token");
  const blocked = refused("/metadata/instance/compute", { headers: [], options: { blockInstanceMetadata: true } });
  assert.equal(blocked.status, 403);
  assert.equal(blocked.reason, "instance-metadata-blocked");
  assert.equal(accepted("/metadata/versions", { options: { blockInstanceMetadata: true } }).route, "imds");
});
