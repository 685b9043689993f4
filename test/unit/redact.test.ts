import { test } from "node:test";
import assert from "node:assert/strict";
import { redactHeaders, redactJson, redactText, redactUrl, REDACTED } from "../../src/util/redact.js";
import { createLogger } from "../../src/util/logger.js";

const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl";

test("headers are shown only when allowlisted", () => {
  const out = redactHeaders({ Authorization: `Bearer ${jwt}`, "content-type": "application/json", "x-custom": "v" });
  assert.equal(out.Authorization, REDACTED);
  assert.equal(out["x-custom"], REDACTED);
  assert.equal(out["content-type"], "application/json");
});

test("query values are shown only when allowlisted", () => {
  const out = redactUrl("https://h/x?api-version=2023-01-31&client_secret=s3cret&sig=abc");
  assert.match(out, /api-version=2023-01-31/);
  assert.doesNotMatch(out, /s3cret|abc/);
});

test("secret-named JSON fields are replaced at any depth", () => {
  const out = redactJson({ a: { access_token: jwt, keep: 1 }, list: [{ client_secret: "x" }] }) as Record<string, any>;
  assert.equal(out.a.access_token, REDACTED);
  assert.equal(out.a.keep, 1);
  assert.equal(out.list[0].client_secret, REDACTED);
});

test("free text loses bearer tokens and JWTs, and the logger always redacts", () => {
  assert.doesNotMatch(redactText(`got Bearer ${jwt} and ${jwt}`), /eyJ/);
  const lines: string[] = [];
  const logger = createLogger("debug", (l) => lines.push(l));
  logger.debug(`token ${jwt}`);
  logger.verbose("hidden?");
  assert.equal(lines.length, 2);
  assert.doesNotMatch(lines.join("\n"), /eyJ/);
  const quiet = createLogger("error", (l) => lines.push(l));
  quiet.warn("not shown");
  assert.equal(lines.length, 2);
});
