import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import type { ManagedServiceIdentityClient } from "@azure/arm-msi";
import type { AuthorizationManagementClient } from "@azure/arm-authorization";
import { buildProgram } from "../../src/cli/main.js";
import { PACKAGE_VERSION } from "../../src/util/package-info.js";
import { CLI, runPodid, runShell, type RunResult } from "../helpers/cli.js";
import { sandboxClients, startSandbox, type SandboxFixture } from "../helpers/sandbox-env.js";
import { eventually } from "../helpers/eventually.js";
import { ESC, NO_PTY, screenLines, withPodidInPty, type PtyRun } from "../helpers/pty.js";

/**
 * The CLI's surface as a user meets it on a sandbox: output like az (every command under -o table and -o tsv with
 * --query), progress on a terminal and in logs, --debug, Ctrl-C through a pseudo-terminal, and --label on a
 * StatefulSet by kubectl's short name.
 */

let sb: SandboxFixture;
let msi: ManagedServiceIdentityClient;
let auth: AuthorizationManagementClient;
let apps: AppsV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
const GROUP = "aadpodidentity.k8s.io";
const RUNTIME_IMAGE = `ghcr.io/podid/podid-runtime:${PACKAGE_VERSION}`;
const noPty = NO_PTY;
const podid = (args: string[], env: NodeJS.ProcessEnv = {}) => runPodid(args, { env: { ...sb.env, ...env }, timeoutMs: 400_000 });
const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
const readIdentity = (name: string, namespace = "default") => custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace, plural: "azureidentities", name }) as Promise<{ spec: { clientID: string } }>;

before(async () => {
  sb = await startSandbox({ nodes: 2 });
  const clients = sandboxClients(sb);
  msi = clients.msi;
  auth = clients.auth;
  apps = clients.kc.makeApiClient(AppsV1Api);
  core = clients.kc.makeApiClient(CoreV1Api);
  custom = clients.kc.makeApiClient(CustomObjectsApi);
});

after(async () => sb?.stop());

const inPty = <T>(args: string[], env: NodeJS.ProcessEnv, run: (pty: PtyRun) => Promise<T>) => withPodidInPty(args, { ...sb.env, ...env }, run);

test("on a terminal, install shows each step on one live line with its time, and prints each finished step once", { skip: noPty }, async () => {
  await inPty(["install", "--cluster", sb.info.clusterName, "-g", sb.info.resourceGroup, "-o", "none"], {}, async (pty) => {
    assert.equal(await pty.exited, 0, pty.output());
    const raw = pty.output();
    // The rollout wait: its limit, and its state on the live line.
    assert.match(raw, /rollout: MIC and NMI ready {2}\d+(ms|\.\d+s|s) of 5m {2}mic \d\/\d ready, nmi \d\/\d ready/);
    const finished = screenLines(raw).filter((l) => l.startsWith("✓ "));
    const names = finished.map((l) => /^✓ (.*): (created|updated|unchanged|ready) \(/.exec(l)?.[1]);
    assert.ok(names.every(Boolean), finished.join("\n"));
    assert.equal(new Set(names).size, names.length, `a step printed twice:\n${finished.join("\n")}`);
    assert.ok(names.includes("Deployment kube-system/podid-mic"));
    assert.ok(names.includes("kubelet identity: Managed Identity Operator on " + `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.resourceGroup}`));
    assert.equal(names.at(-1), "rollout: MIC and NMI ready");
    assert.equal(finished.length, 21, finished.join("\n"));
    assert.ok(raw.includes(`${ESC}[32m✓`), "colour on a terminal");
  });
  const mic = await apps.readNamespacedDeployment({ name: "podid-mic", namespace: "kube-system" });
  assert.ok((mic.status?.readyReplicas ?? 0) >= 1, "the rollout the progress waited for happened");
});

test("on a terminal with NO_COLOR, progress is plain; without a terminal it is silent, and --verbose gives one line per step", { skip: noPty }, async () => {
  await inPty(["exception", "add", "-n", "plain-exc", "--pod-labels", "a=b", "-o", "none"], { NO_COLOR: "1" }, async (pty) => {
    assert.equal(await pty.exited, 0, pty.output());
    assert.equal(screenLines(pty.output()).filter((l) => /^✓ AzurePodIdentityException default\/plain-exc: created \(\d+ms\)$/.test(l)).length, 1, pty.output());
    assert.doesNotMatch(pty.output(), new RegExp(`${ESC}\\[\\d+(;\\d+)*m`), "no colour with NO_COLOR");
  });
  const quiet = await podid(["exception", "add", "-n", "plain-exc", "--pod-labels", "a=c"]);
  ok(quiet, "exception add");
  assert.equal(quiet.stderr, "", "nothing on stderr without a terminal");
  const verbose = await podid(["exception", "delete", "-n", "plain-exc", "--verbose"]);
  ok(verbose, "exception delete --verbose");
  assert.match(verbose.stderr, /^INFO: AzurePodIdentityException default\/plain-exc: deleted \(\d+ms\)\n$/);
});

test("bind --label sts/NAME labels a StatefulSet's pods: the sandbox's controller replaces them with the label", async () => {
  await apps.createNamespacedStatefulSet({
    namespace: "default",
    body: {
      metadata: { name: "db" },
      spec: {
        replicas: 2,
        serviceName: "db",
        selector: { matchLabels: { app: "db" } },
        template: {
          metadata: { labels: { app: "db" } },
          spec: {
            containers: [
              {
                name: "proxy",
                image: RUNTIME_IMAGE,
                args: ["runtime", "proxy", "--proxy-port=8000"],
                env: [
                  { name: "AZURE_TENANT_ID", value: "tenant" },
                  { name: "AZURE_CLIENT_ID", value: "client" },
                  { name: "AZURE_FEDERATED_TOKEN_FILE", value: "/var/run/secrets/azure/tokens/azure-identity-token" },
                  { name: "AZURE_AUTHORITY_HOST", value: "https://login.example.test/" },
                ],
              },
            ],
          },
        },
      },
    },
  });
  const readyPods = (selector: string) => async () => {
    const pods = (await core.listNamespacedPod({ namespace: "default", labelSelector: selector })).items.filter((p) => !p.metadata?.deletionTimestamp);
    assert.deepEqual(pods.map((p) => [p.metadata!.name, p.status?.conditions?.find((c) => c.type === "Ready")?.status]).sort(), [["db-0", "True"], ["db-1", "True"]]);
  };
  await eventually("the StatefulSet's two pods to run", readyPods("app=db"), { timeoutMs: 120_000, intervalMs: 250 });
  ok(await podid(["identity", "add", "-n", "db-id", "-g", sb.info.resourceGroup, "-o", "none"]), "identity add");

  const r = await podid(["bind", "--selector", "db", "--identity", "db-id", "--label", "sts/db", "-o", "json"]);
  ok(r, "bind --label sts/db");
  assert.deepEqual(JSON.parse(r.stdout).labelled, [{ kind: "StatefulSet", name: "db" }]);
  const sts = await apps.readNamespacedStatefulSet({ name: "db", namespace: "default" });
  assert.equal(sts.spec?.template.metadata?.labels?.aadpodidbinding, "db");
  assert.equal(sts.spec?.template.metadata?.labels?.app, "db", "the labels others own stay");
  await eventually("both pods replaced with the binding label, running", readyPods("app=db,aadpodidbinding=db"), { timeoutMs: 180_000, intervalMs: 250 });

  const again = await podid(["bind", "--selector", "db", "--identity", "db-id", "--label", "statefulsets.apps/db", "-o", "json"]);
  ok(again, "bind --label statefulsets.apps/db");
  assert.ok(JSON.parse(again.stdout).steps.every((s: { outcome: string }) => s.outcome === "unchanged"), again.stdout);
});

test("--debug traces the Kubernetes requests (method, path, status, time) with nothing secret, and no SDK deprecation notes", async () => {
  const adminToken = /token: (\S+)/.exec(readFileSync(sb.env.KUBECONFIG!, "utf8"))![1];
  const secret = readFileSync(join(sb.dir, "client-secret"), "utf8").trim();
  const r = await podid(["identity", "show", "-n", "db-id", "--debug"]);
  ok(r, "identity show --debug");
  assert.match(r.stderr, /^DEBUG: kubernetes request: GET https:\/\/127\.0\.0\.1:\d+\/apis\/aadpodidentity\.k8s\.io\/v1\/namespaces\/default\/azureidentities(?:\/db-id|\?\S*) headers \{.*"Authorization":"REDACTED".*\}$/m);
  assert.match(r.stderr, /^DEBUG: kubernetes response: GET https:\/\/127\.0\.0\.1:\d+\/apis\/aadpodidentity\.k8s\.io\/v1\/namespaces\/default\/azureidentities(?:\/db-id|\?\S*) 200 in \d+ ms$/m);
  assert.match(r.stderr, /DEBUG: azure:core-rest-pipeline:info Request: \{\s*"url": "https:\/\/127\.0\.0\.1:\d+\/subscriptions\//, "Azure's trace as before");
  assert.ok(adminToken.length > 16 && !r.stderr.includes(adminToken) && !r.stdout.includes(adminToken), "the sandbox's admin token is never printed");
  assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), "nor the client secret");
  assert.doesNotMatch(r.stderr + r.stdout, /eyJ[A-Za-z0-9_-]{10,}\./, "no JWT");
  assert.doesNotMatch(r.stderr, /deprecated/);
  assert.equal(JSON.parse(r.stdout).name, "db-id");
});

test("Ctrl-C at a prompt is a quiet cancel: exit 130, no error", { skip: noPty }, async () => {
  await inPty(["identity", "show"], {}, async (pty) => {
    await pty.shows(/Identity/);
    pty.type("\x03");
    assert.equal(await pty.exited, 130, pty.output());
    assert.ok(screenLines(pty.output()).includes("Cancelled."), pty.output());
    assert.doesNotMatch(pty.output(), /ERROR|SIGINT|report it/);
  });
});

test("Ctrl-C during a command: exit 130, what was done listed, no error; re-running finishes the job", { skip: noPty }, async () => {
  // Entra ID's replication delay holds the role grant: the command is stopped while it waits (the delay is the
  // new principal's from its creation on: the re-run waits out what is left of it).
  ok(await podid(["sandbox", "settings", "--replication-delay", "20", "--dir", sb.dir, "-o", "none"]), "replication delay on");
  const args = ["identity", "add", "-n", "cc-id", "-g", sb.info.resourceGroup, "--role", "Reader", "-o", "none"];
  try {
    await inPty(args, {}, async (pty) => {
      await pty.shows(/waiting for Entra ID to replicate principal/);
      pty.type("\x03");
      assert.equal(await pty.exited, 130, pty.output());
      const screen = screenLines(pty.output()).join("\n");
      assert.match(screen, new RegExp(`\\nCancelled during role Reader at /subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.resourceGroup}\\.\\nAlready done: identity cc-id \\(created\\)\\. Re-running the same command finishes the job\\.`), screen);
      assert.doesNotMatch(pty.output(), /ERROR/);
    });
  } finally {
    ok(await podid(["sandbox", "settings", "--replication-delay", "0", "--dir", sb.dir, "-o", "none"]), "replication delay off");
  }
  const identity = await msi.userAssignedIdentities.get(sb.info.resourceGroup, "cc-id");
  await assert.rejects(readIdentity("cc-id"), "the AzureIdentity was not reached");

  ok(await podid(args), "the re-run");
  assert.equal((await readIdentity("cc-id")).spec.clientID, identity.clientId);
  const grants = [];
  for await (const a of auth.roleAssignments.listForScope(`/subscriptions/${sb.info.subscriptionId}/resourceGroups/${sb.info.resourceGroup}`, { filter: `principalId eq '${identity.principalId}'` })) grants.push(a);
  assert.equal(grants.length, 1, "the Reader grant the cancel stopped, made by the re-run");
});

test("SIGTERM during a command (a CI job's timeout, kill): exit 143 with what was done listed, as Ctrl-C", async () => {
  ok(await podid(["sandbox", "settings", "--replication-delay", "20", "--dir", sb.dir, "-o", "none"]), "replication delay on");
  try {
    const child = spawn(process.execPath, [CLI, "identity", "add", "-n", "term-id", "-g", sb.info.resourceGroup, "--role", "Reader", "-o", "none", "--verbose"], { env: { ...process.env, ...sb.env, NO_COLOR: "1" } });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      await eventually("the identity made and the role grant waiting", () => /identity term-id: created/.test(stderr) && /role Reader/.test(stderr), { timeoutMs: 120_000, intervalMs: 100 });
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 143, stderr);
    assert.match(stderr, /Cancelled during role Reader at .*\.\nAlready done: identity term-id \(created\)\. Re-running the same command finishes the job\./, stderr);
    assert.doesNotMatch(stderr, /ERROR/);
  } finally {
    ok(await podid(["sandbox", "settings", "--replication-delay", "0", "--dir", sb.dir, "-o", "none"]), "replication delay off");
  }
});

test("a reader that goes away early is no error: stdout and stderr closed mid-command", async () => {
  const head = await runShell(`node ${CLI} sandbox env --dir ${sb.dir} | head -1; echo "exit \${PIPESTATUS[0]}"`, { env: sb.env });
  assert.match(head.stdout, /^export AZURE_TENANT_ID=.*\nexit 0\n$/);
  assert.equal(head.stderr, "");
  const closedStderr = await runShell(`node ${CLI} exception add -n early-exc --pod-labels a=b --verbose -o none 2>&1 >/dev/null | head -c 0; echo "exit \${PIPESTATUS[0]}"`, { env: sb.env });
  assert.match(closedStderr.stdout, /exit 0\n$/);
  await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "default", plural: "azurepodidentityexceptions", name: "early-exc" });
});

/** What a format run must show: the table's lines, and the tsv answer to a query. */
interface FormatCase {
  command: string;
  args: () => string[];
  table?: (stdout: string) => void | Promise<void>;
  tsv?: { query: string; expect: (stdout: string) => void | Promise<void> };
  /** Exit codes other than 0 that the command gives here (doctor's 4 and 5). */
  codes?: number[];
}

/** Every leaf command a user can run. */
async function allCommands(): Promise<string[]> {
  const out: string[] = [];
  const walk = (cmd: Command, path: string[]) => {
    const visible = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden && c.name() !== "help");
    if (!visible.length) out.push(path.join(" "));
    for (const c of visible) walk(c, [...path, c.name()]);
  };
  const root = await buildProgram(["node", "podid"]);
  for (const group of root.commands) {
    const loaded = (await buildProgram(["node", "podid", group.name()])).commands.find((c) => c.name() === group.name())!;
    walk(loaded, [group.name()]);
  }
  return out;
}

/** Commands that print their own text whatever -o says: a log stream, and the in-cluster components (servers). */
const TEXT_ONLY = ["sandbox logs", "runtime nmi", "runtime mic", "runtime demo", "runtime proxy"];

test("every command honours -o table and -o tsv with --query, showing real content", async () => {
  const rg = sb.info.resourceGroup;
  const line = (stdout: string, pattern: RegExp) => assert.ok(stdout.split("\n").some((l) => pattern.test(l)), `a line ${pattern} in:\n${stdout}`);
  const header = (stdout: string, pattern: RegExp) => assert.match(stdout.split("\n")[0], pattern, stdout);
  const clientId = async (name: string) => (await msi.userAssignedIdentities.get(rg, name)).clientId!;
  await apps.createNamespacedDeployment({
    namespace: "default",
    body: { metadata: { name: "web" }, spec: { selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "example/web:1" }] } } } },
  });
  const identityRow = async (stdout: string) => {
    header(stdout, /^Name +Namespace +Selector +ClientId +State$/);
    line(stdout, new RegExp(`^out-id +default +out +${await clientId("out-id")} +ok$`));
    assert.doesNotMatch(stdout, /\/subscriptions\//, "no resource ids in a table");
  };
  const steps = /^Outcome +Target +Step$/;
  const cases: FormatCase[] = [
    {
      command: "install",
      args: () => ["install", "--cluster", sb.info.clusterName, "-g", rg, "--no-wait"],
      table: (o) => (header(o, steps), line(o, /^(created|unchanged) +cluster +Deployment kube-system\/podid-mic$/), line(o, /^(created|unchanged) +azure +kubelet identity: Virtual Machine Contributor on \/subscriptions\//)),
      tsv: { query: "steps[?target=='azure'].outcome", expect: (o) => assert.equal(o, "unchanged\nunchanged\n") },
    },
    {
      command: "identity add",
      args: () => ["identity", "add", "-n", "out-id", "-g", rg, "--role", "Reader", "--binding-selector", "out"],
      table: (o) => (header(o, steps), line(o, /^created +azure +identity out-id$/), line(o, /^created +azure +role Reader at \/subscriptions\/.*\/resourceGroups\/podid-sandbox$/), line(o, /^created +cluster +AzureIdentityBinding default\/out-id-binding$/)),
      // As az: a list prints one value a line; a list of lists one row a line.
      tsv: { query: "[name, clientId, azureState]", expect: async (o) => assert.equal(o, `out-id\n${await clientId("out-id")}\nok\n`) },
    },
    {
      command: "identity list",
      args: () => ["identity", "list"],
      table: identityRow,
      tsv: { query: "[?name=='out-id'].[name, namespace, clientId]", expect: async (o) => assert.equal(o, `out-id\tdefault\t${await clientId("out-id")}\n`) },
    },
    {
      command: "identity show",
      args: () => ["identity", "show", "-n", "out-id"],
      table: identityRow,
      tsv: { query: "roleAssignments[].role", expect: (o) => assert.equal(o, "Reader\n") },
    },
    {
      command: "bind",
      // -n as the binding's name, with --namespace beside it (-n alone was the namespace on bind).
      args: () => ["bind", "--selector", "out2", "--identity", "out-id", "-n", "out2-binding", "--namespace", "default", "--label", "deploy/web"],
      table: async (o) => {
        header(o, steps);
        line(o, /^created +cluster +AzureIdentityBinding default\/out2-binding$/);
        line(o, /^updated +cluster +label Deployment default\/web aadpodidbinding=out2$/);
        assert.equal((await apps.readNamespacedDeployment({ name: "web", namespace: "default" })).spec?.template.metadata?.labels?.aadpodidbinding, "out2");
      },
      tsv: { query: "[binding.[name, selector]]", expect: (o) => assert.equal(o, "out2-binding\tout2\n") },
    },
    {
      command: "unbind",
      args: () => ["unbind", "--identity", "out-id", "--label", "deploy/web"],
      table: async (o) => {
        header(o, steps);
        line(o, /^deleted +cluster +AzureIdentityBinding default\/out2-binding$/);
        line(o, /^deleted +cluster +AzureIdentityBinding default\/out-id-binding$/);
        line(o, /^updated +cluster +unlabel Deployment default\/web$/);
        assert.equal((await apps.readNamespacedDeployment({ name: "web", namespace: "default" })).spec?.template.metadata?.labels?.aadpodidbinding, undefined);
      },
      tsv: { query: "steps[].[outcome, step]", expect: (o) => assert.equal(o, "unchanged\tunlabel Deployment default/web\n") },
    },
    {
      command: "exception add",
      args: () => ["exception", "add", "-n", "out-exc", "--pod-labels", "app=x"],
      table: (o) => (header(o, steps), line(o, /^created +cluster +AzurePodIdentityException default\/out-exc$/)),
      tsv: { query: "exception.podLabels.app", expect: (o) => assert.equal(o, "x\n") },
    },
    {
      command: "exception list",
      args: () => ["exception", "list"],
      table: (o) => (header(o, /^Name +Namespace +PodLabels$/), line(o, /^out-exc +default +app=x$/)),
      tsv: { query: "[?name=='out-exc'].[name, podLabels.app]", expect: (o) => assert.equal(o, "out-exc\tx\n") },
    },
    {
      command: "exception delete",
      args: () => ["exception", "delete", "-n", "out-exc"],
      table: (o) => (header(o, steps), line(o, /^deleted +cluster +AzurePodIdentityException default\/out-exc$/)),
      tsv: { query: "steps[0].outcome", expect: (o) => assert.equal(o, "absent\n") },
    },
    {
      command: "doctor",
      args: () => ["doctor"],
      table: (o) => (header(o, /^Status +Check +Findings +Summary$/), line(o, /^ok +crds +0$/), line(o, /^ok +cluster +0$/)),
      tsv: { query: "checks[?id=='crds'].[id, status]", expect: (o) => assert.equal(o, "crds\tok\n") },
      codes: [4, 5],
    },
    {
      command: "render identity",
      args: () => ["render", "identity", "-n", "r-id", "--resource-id", `/subscriptions/${sb.info.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/r-id`, "--client-id", "00000000-0000-0000-0000-00000000000a"],
      table: (o) => (header(o, /^Kind +Namespace +Name$/), line(o, /^AzureIdentity +default +r-id$/)),
      tsv: { query: "[0].spec.clientID", expect: (o) => assert.equal(o, "00000000-0000-0000-0000-00000000000a\n") },
    },
    {
      command: "render binding",
      args: () => ["render", "binding", "--identity", "r-id", "--selector", "r", "-n", "r-binding", "--namespace", "team-x"],
      table: (o) => line(o, /^AzureIdentityBinding +team-x +r-binding$/),
      tsv: { query: "[].spec.[azureIdentity, selector]", expect: (o) => assert.equal(o, "r-id\tr\n") },
    },
    {
      command: "render exception",
      args: () => ["render", "exception", "-n", "r-exc", "--pod-labels", "a=b"],
      table: (o) => line(o, /^AzurePodIdentityException +default +r-exc$/),
      tsv: { query: "[0].spec.podLabels.a", expect: (o) => assert.equal(o, "b\n") },
    },
    {
      command: "sandbox status",
      args: () => ["sandbox", "status", "--dir", sb.dir],
      table: (o) => (header(o, /^Status +Dir +Pid +TenantId +SubscriptionId +ClientId +ResourceGroup +Cluster +NodeResourceGroup$/), line(o, new RegExp(`^running +${sb.dir} +\\d+ `))),
      tsv: { query: "nodes[].name", expect: (o) => assert.equal(o.trim().split("\n").length, 2, o) },
    },
    {
      command: "sandbox env",
      args: () => ["sandbox", "env", "--dir", sb.dir],
      table: (o) => {
        header(o, /^Name +Value +File$/);
        line(o, new RegExp(`^AZURE_CLIENT_SECRET +${join(sb.dir, "client-secret")}$`));
        assert.ok(!o.includes(readFileSync(join(sb.dir, "client-secret"), "utf8").trim()), "never the secret");
      },
      tsv: { query: "[?name=='AZURE_SUBSCRIPTION_ID'].value", expect: (o) => assert.equal(o, `${sb.info.subscriptionId}\n`) },
    },
    {
      command: "sandbox fault add",
      args: () => ["sandbox", "fault", "add", "--dir", sb.dir, "--service", "imds", "--latency", "1", "--count", "1"],
      table: (o) => (header(o, /^Service +Method +Path +LatencyMs +Count$/), line(o, /^imds +\* +\* +1 +1$/)),
      // The answer is the rules in force, the new one last.
      tsv: { query: "[-1:].[service, latencyMs]", expect: (o) => assert.equal(o, "imds\t1\n") },
    },
    {
      command: "sandbox fault list",
      args: () => ["sandbox", "fault", "list", "--dir", sb.dir],
      table: (o) => line(o, /^imds +\* +\* +1 +1$/),
      tsv: { query: "length(@)", expect: (o) => assert.equal(o, "2\n") },
    },
    {
      command: "sandbox fault clear",
      args: () => ["sandbox", "fault", "clear", "--dir", sb.dir],
      // No rule left: an empty table, as az prints an empty list.
      table: (o) => assert.equal(o, ""),
      tsv: { query: "length(@)", expect: (o) => assert.equal(o, "0\n") },
    },
    {
      command: "sandbox settings",
      args: () => ["sandbox", "settings", "--dir", sb.dir],
      table: (o) => (header(o, /^ReplicationDelaySeconds +FederationDelaySeconds/), line(o, /^0 +0 +\d+/)),
      tsv: { query: "replicationDelaySeconds", expect: (o) => assert.equal(o, "0\n") },
    },
    {
      command: "sandbox clock",
      args: () => ["sandbox", "clock", "--dir", sb.dir],
      table: (o) => (header(o, /^OffsetSeconds +Now$/), line(o, /^\d+ +\d{4}-\d\d-\d\dT/)),
      tsv: { query: "offsetSeconds", expect: (o) => assert.match(o, /^\d+\n$/) },
    },
    {
      command: "sandbox principal add",
      args: () => ["sandbox", "principal", "add", "--dir", sb.dir, "--display-name", "out-app"],
      table: (o) => {
        header(o, /^TenantId +ClientId +ObjectId +SecretFile$/);
        const file = o.trim().split("\n")[2].split(/ +/)[3];
        assert.ok(!o.includes(readFileSync(file, "utf8")), "the secret is only in its file");
      },
      tsv: { query: "[tenantId, clientId]", expect: (o) => assert.match(o, new RegExp(`^${sb.info.tenantId}\n[0-9a-f-]{36}\n$`)) },
    },
    {
      command: "identity delete",
      args: () => ["identity", "delete", "-n", "out-id", "-g", rg, "--yes"],
      table: async (o) => {
        header(o, steps);
        line(o, /^deleted +cluster +AzureIdentity default\/out-id$/);
        line(o, /^deleted +azure +identity out-id$/);
        await assert.rejects(msi.userAssignedIdentities.get(rg, "out-id"), (e: { statusCode?: number }) => e.statusCode === 404);
      },
      tsv: { query: "steps[?outcome=='deleted'] | length(@)", expect: (o) => assert.equal(o, "0\n") },
    },
    // The workloads bound above are on pod identity; the cluster has no OIDC issuer yet, which blocks them.
    {
      command: "migrate plan",
      args: () => ["migrate", "plan", "-A"],
      table: (o) => (header(o, /^Namespace +Workload +State +Identities +ServiceAccount +Proxy +Migratable +Blockers$/), line(o, /^default +deployment\/web +pod-identity /)),
      tsv: { query: "workloads[?ref=='deployment/web'].[state, migratable]", expect: (o) => assert.equal(o, "pod-identity\tfalse\n") },
    },
    {
      command: "migrate status",
      args: () => ["migrate", "status", "-A"],
      table: (o) => (header(o, /^Namespace +Workload +State +Identities +ServiceAccount +Note$/), line(o, /^default +deployment\/web +pod-identity /)),
      tsv: { query: "[?workload=='deployment/web'].state", expect: (o) => assert.equal(o, "pod-identity\n") },
    },
    {
      command: "migrate apply",
      args: () => ["migrate", "apply", "-A", "--dry-run", "--enable-workload-identity"],
      table: (o) => header(o, /^Action +Target +Step$|^Outcome +Target +Step$/),
      tsv: { query: "length(blocked)", expect: (o) => assert.match(o, /^[1-9]\d*\n$/) },
    },
    {
      command: "migrate finish",
      args: () => ["migrate", "finish", "-A", "--dry-run", "--yes"],
      // Nothing was migrated: no steps, and an empty table prints nothing, as az prints an empty list.
      table: (o) => assert.ok(o === "" || /^(Outcome|Action) +Target +Step$/m.test(o), o),
      tsv: { query: "length(finished)", expect: (o) => assert.equal(o, "0\n") },
    },
    {
      command: "migrate rollback",
      args: () => ["migrate", "rollback", "-A", "--dry-run", "--yes"],
      table: (o) => assert.ok(o === "" || /^(Outcome|Action) +Target +Step$/m.test(o), o),
      tsv: { query: "length(workloads)", expect: (o) => assert.equal(o, "0\n") },
    },
    {
      command: "demo",
      args: () => ["demo", "--dir", sb.dir],
      // The walkthrough runs once (a minute); its narrative goes to stderr when -o asks stdout for the result.
      tsv: { query: "pods[].[name, labelled, ok]", expect: (o) => assert.equal(o, "podid-demo\ttrue\ttrue\npodid-demo-unlabelled\tfalse\ttrue\n") },
    },
    {
      command: "uninstall",
      args: () => ["uninstall", "--yes", "--force"],
      table: async (o) => {
        header(o, steps);
        // deleted, or already absent where the demo's own clean-up could uninstall (no other identity left).
        line(o, /^(deleted|absent) +cluster +Deployment kube-system\/podid-mic$/);
        await assert.rejects(apps.readNamespacedDeployment({ name: "podid-mic", namespace: "kube-system" }));
      },
      tsv: { query: "steps[?outcome=='deleted'] | length(@)", expect: (o) => assert.equal(o, "0\n") },
    },
    {
      command: "sandbox stop",
      args: () => ["sandbox", "stop", "--dir", sb.dir],
      table: (o) => (header(o, /^Status +Dir +WasRunning$/), line(o, /^stopped +.* +true$/)),
      tsv: { query: "[[status, wasRunning]]", expect: (o) => assert.equal(o, "stopped\tfalse\n") },
    },
    {
      command: "sandbox start",
      args: () => ["sandbox", "start", "--dir", sb.dir],
      table: (o) => line(o, new RegExp(`^running +${sb.dir} +\\d+ +${sb.info.tenantId}`)),
      tsv: { query: "[status, cluster]", expect: (o) => assert.equal(o, `running\n${sb.info.clusterName}\n`) },
    },
  ];

  const covered = new Set(cases.map((c) => c.command));
  assert.deepEqual((await allCommands()).filter((c) => !covered.has(c) && !TEXT_ONLY.includes(c)), [], "every command is under test here");

  for (const c of cases) {
    const allowed = [0, ...(c.codes ?? [])];
    if (c.table) {
      const r = await podid([...c.args(), "-o", "table"]);
      assert.ok(allowed.includes(r.code), `podid ${c.command} -o table: exit ${r.code}\n${r.stderr}`);
      await c.table(r.stdout);
    }
    if (c.tsv) {
      const r = await podid([...c.args(), "-o", "tsv", "--query", c.tsv.query]);
      assert.ok(allowed.includes(r.code), `podid ${c.command} -o tsv --query: exit ${r.code}\n${r.stderr}`);
      await c.tsv.expect(r.stdout);
    }
  }
});

test("identity add and identity show give one shape: add's result is show's, with the steps", async () => {
  await podid(["sandbox", "start", "--dir", sb.dir, "-o", "none"]);
  ok(await podid(["install", "--cluster", sb.info.clusterName, "-g", sb.info.resourceGroup, "--no-wait", "-o", "none"]), "install");
  const added = await podid(["identity", "add", "-n", "shape-id", "-g", sb.info.resourceGroup, "--role", "Reader", "--binding-selector", "shape"]);
  ok(added, "identity add");
  const shown = await podid(["identity", "show", "-n", "shape-id"]);
  ok(shown, "identity show");
  const { steps, dryRun, ...identity } = JSON.parse(added.stdout);
  assert.deepEqual(identity, JSON.parse(shown.stdout));
  assert.equal(dryRun, false);
  assert.ok(steps.length >= 4);
  assert.equal(identity.clientId, (await msi.userAssignedIdentities.get(sb.info.resourceGroup, "shape-id")).clientId);
});
