import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runShell } from "../helpers/cli.js";

// README's first command — what a fresh machine runs — is exactly what this test runs, read from README so the
// two cannot drift: `podid demo` on a new sandbox, from install to the unlabelled pod's refusal and clean-up.
const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const fresh = readme.slice(readme.indexOf("## On a fresh machine"));
const firstCommand = /```sh\n([^\n]+)\n```/.exec(fresh)?.[1];

test("README's first command is the demo", () => {
  assert.equal(firstCommand, "npm install && npm run demo");
});

test("README's first command runs the walkthrough end to end: the labelled pod gets its token and uses it, the unlabelled one is refused", { timeout: 900_000 }, async () => {
  const r = await runShell(firstCommand!, { cwd: REPO_ROOT, env: { NO_COLOR: "1" } });
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 0, out);
  // Each step is shown as the command a user would type.
  for (const step of ["$ podid install --cluster podid-aks", "$ podid identity add -n podid-demo", "$ podid bind --selector demo --identity podid-demo", "$ kubectl logs podid-demo\n", "$ kubectl logs podid-demo-unlabelled"]) {
    assert.ok(out.includes(step), `shows ${step}`);
  }
  const labelledLog = out.slice(out.indexOf("$ kubectl logs podid-demo\n"), out.indexOf("$ kubectl logs podid-demo-unlabelled"));
  assert.match(labelledLog, /successfully acquired a token using the MSI, msiEndpoint\(http:\/\/[^)]+\/metadata\/identity\/oauth2\/token\) clientID\([0-9a-f-]{36}\)/);
  assert.match(labelledLog, /successfully doARMOperations vm count 2\b/);
  const unlabelledLog = out.slice(out.indexOf("$ kubectl logs podid-demo-unlabelled"), out.indexOf("## Summary"));
  assert.match(unlabelledLog, /failed to acquire a token using the MSI, msiEndpoint\(.*\) clientID\([0-9a-f-]{36}\): .*\(the endpoint answered 404: /);
  assert.doesNotMatch(unlabelledLog, /successfully acquired/);
  assert.match(out, /ok {4}pod podid-demo \(aadpodidbinding=demo\) got a token/);
  assert.match(out, /ok {4}pod podid-demo-unlabelled \(no aadpodidbinding label\) was refused a token/);
  assert.doesNotMatch(out, /eyJ[\w-]+\.eyJ[\w-]+/, "no token is printed");
  assert.doesNotMatch(out, /AZURE_CLIENT_SECRET=/, "no secret is printed");
  // It cleaned up after itself, sandbox included.
  for (const cleanup of ["$ podid unbind --identity podid-demo", "$ podid identity delete -n podid-demo", "$ podid uninstall --yes", "$ podid sandbox stop --dir"]) assert.ok(out.includes(cleanup), `runs ${cleanup}`);
  const dir = /a new sandbox in (\S+), removed at the end/.exec(out)?.[1];
  assert.ok(dir && !existsSync(dir), `the demo's sandbox ${dir} is removed`);
});
