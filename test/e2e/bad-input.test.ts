import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { runPodid } from "../helpers/cli.js";

// Bad input that podid must refuse before it touches Azure or a cluster: each gives one ERROR line naming what
// was wrong, a next line saying how to fix it, and a non-zero exit. Nothing listens at the kubeconfig's server,
// so any attempt to reach it would show up as a different error.
const dir = mkdtempSync(join(tmpdir(), "podid-bad-input-"));
const kubeconfig = join(dir, "kubeconfig");
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: team-a}}]
current-context: c
`,
);
const env = { KUBECONFIG: kubeconfig, AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000001", PODID_CLOUD: "AzureCloud" };
const rid = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ok-id";
const add = (...extra: string[]) => ["identity", "add", "-g", "rg", "--cluster", "aks", ...extra];

const cases: [string, string[], number, RegExp, NodeJS.ProcessEnv?][] = [
  ["identity name too short", add("-n", "ab"), 2, /identity name 'ab' is not valid in Azure/],
  ["identity name with a space", add("-n", "my id"), 2, /not a valid Kubernetes name/],
  ["identity name in upper case", add("-n", "MyId"), 2, /not a valid Kubernetes name/],
  ["identity name with a colon", add("-n", "a:b"), 2, /not a valid Kubernetes name/],
  ["identity name with a newline", add("-n", "a\nb"), 2, /not a valid Kubernetes name/],
  ["identity name with YAML braces", add("-n", "{a}"), 2, /not a valid Kubernetes name/],
  ["missing --name without a TTY", add(), 2, /required: -n\/--name/],
  ["missing --resource-group", ["identity", "add", "-n", "ok-id"], 2, /required: -g\/--resource-group/],
  ["malformed identity resource id", add("-n", "ok-id", "--identity-resource-id", "not-an-id"), 2, /'not-an-id' is not a resource id/],
  ["identity resource id of another type", add("-n", "ok-id", "--identity-resource-id", rid.replace("Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.Compute/virtualMachines")), 2, /not a Microsoft.ManagedIdentity\/userAssignedIdentities/],
  ["--scope without --role", add("-n", "ok-id", "--scope", "/subscriptions/x"), 2, /--scope was given without --role/],
  ["binding selector with a space", add("-n", "ok-id", "--binding-selector", "my app"), 2, /not a valid label value/],
  ["empty binding selector", add("-n", "ok-id", "--binding-selector", ""), 2, /not a valid label value/],
  ["namespace with an underscore", add("-n", "ok-id", "--namespace", "bad_ns"), 2, /not a valid namespace name/],
  ["subscription that is not a GUID", add("-n", "ok-id", "--subscription", "my-sub"), 2, /--subscription 'my-sub' is not a GUID/],
  ["kubeconfig that does not exist", add("-n", "ok-id", "--kubeconfig", join(dir, "nope")), 2, /kubeconfig '.*nope' does not exist/],
  ["unknown kubeconfig context", add("-n", "ok-id", "--context", "nosuch"), 2, /context 'nosuch' is not in the kubeconfig/],
  ["unknown cloud", add("-n", "ok-id", "--cloud", "MarsCloud"), 2, /unknown cloud 'MarsCloud'/],
  ["no subscription at all", add("-n", "ok-id"), 2, /no subscription given/, { AZURE_SUBSCRIPTION_ID: "" }],
  ["unknown output format", ["identity", "list", "-o", "xml"], 2, /argument 'xml' is invalid. Allowed choices are json/],
  ["broken JMESPath query", ["render", "binding", "--identity", "a", "--selector", "b", "-o", "json", "--query", "[?"], 2, /invalid JMESPath query/],
  ["broken JMESPath query on a write: refused before anything is done", ["bind", "--selector", "s", "--identity", "ok-id", "--query", "steps[?"], 2, /invalid JMESPath query 'steps\[\?'/],
  ["unknown option", ["identity", "add", "--bogus"], 2, /unknown option '--bogus'/],
  ["unknown command", ["identity", "frobnicate"], 2, /unknown command 'frobnicate'/],
  ["bind without --selector", ["bind", "--identity", "ok-id"], 2, /required: --selector/],
  ["bind with a bad identity name", ["bind", "--identity", "Bad Name", "--selector", "s"], 2, /--identity 'Bad Name' is not a valid Kubernetes name/],
  ["bind --label without a kind", ["bind", "--identity", "ok-id", "--selector", "s", "--label", "my-app"], 2, /--label 'my-app' is not KIND\/NAME/],
  ["bind --label of an unknown kind", ["bind", "--identity", "ok-id", "--selector", "s", "--label", "widget/x"], 2, /--label 'widget\/x' is not KIND\/NAME/],
  ["bind --label with a bad workload name", ["bind", "--identity", "ok-id", "--selector", "s", "--label", "deployment/Bad_Name"], 2, /workload name 'Bad_Name'/],
  ["migrate --workload without a kind", ["migrate", "plan", "--workload", "web"], 2, /--workload 'web' is not KIND\/NAME/],
  ["migrate a pod", ["migrate", "apply", "--workload", "pod/web"], 2, /'pod\/web' cannot be migrated: a pod's template cannot change/],
  ["migrate a Job", ["migrate", "apply", "--proxy-sidecar-for", "job/once"], 2, /'job\/once' cannot be migrated: a Job's template cannot change/],
  ["migrate with --namespace and -A", ["migrate", "status", "--namespace", "a", "-A"], 2, /--namespace and -A\/--all-namespaces cannot be used together/],
  ["migrate with a timeout that is no number", ["migrate", "apply", "--timeout", "soon"], 2, /argument --timeout: 'soon' is not a number of seconds/],
  ["exception labels without a value", ["exception", "add", "--name", "e", "--pod-labels", "novalue"], 2, /'novalue' is not key=value/],
  ["exception label value with a space", ["exception", "add", "--name", "e", "--pod-labels", "a=b c"], 2, /not a valid label value/],
  ["exception with empty labels", ["exception", "add", "--name", "e", "--pod-labels", ""], 2, /--pod-labels is empty/],
  ["render identity with a bad client id", ["render", "identity", "-n", "ok-id", "--resource-id", rid, "--client-id", "1234"], 2, /--client-id '1234' is not a GUID/],
  ["render identity with a truncated resource id", ["render", "identity", "-n", "ok-id", "--resource-id", "/subscriptions/x", "--client-id", "00000000-0000-0000-0000-000000000002"], 2, /is not a resource id/],
  ["render binding without --identity", ["render", "binding", "--selector", "s"], 2, /required: --identity/],
  ["identity delete without --yes in a script", ["identity", "delete", "-n", "ok-id", "--namespace", "team-a"], 2, /without confirmation/, { AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000001" }],
  ["sandbox start with zero nodes", ["sandbox", "start", "--dir", join(dir, "sb"), "--nodes", "0"], 2, /--nodes: '0' is not a whole number/],
  ["sandbox settings with an empty delay", ["sandbox", "settings", "--dir", join(dir, "sb"), "--federation-delay", ""], 2, /^ERROR: argument --federation-delay: '' is not a number of seconds\n/],
  ["sandbox clock moved decades ahead", ["sandbox", "clock", "--dir", join(dir, "sb"), "--advance", "9999999999"], 2, /^ERROR: argument --advance: 9999999999 is more than 315360000 seconds\n/],
  ["proxy port out of range", ["runtime", "proxy", "--proxy-port", "99999"], 2, /^ERROR: --proxy-port must be a port number from 0 to 65535, not '99999'\n/],
  // -n was the namespace on these commands; it is the name everywhere now (as in az), and the old use says so.
  ["bind -n as the namespace", ["bind", "--selector", "s", "--identity", "ok-id", "-n", "team-b"], 2, /^ERROR: -n no longer means the namespace on 'podid bind': -n is now the binding's name \(-n\/--name, as in az\); the namespace is --namespace\nFor the namespace write --namespace team-b;/],
  ["unbind -n as the namespace, value attached", ["unbind", "--identity", "ok-id", "-nteam-b"], 2, /on 'podid unbind'.*\nFor the namespace write --namespace team-b;/],
  ["doctor -n as the namespace", ["doctor", "-n", "team-b"], 2, /^ERROR: -n no longer means the namespace on 'podid doctor': it takes no -n .*; the namespace is --namespace\nWrite --namespace team-b\.$/m],
  ["identity list -n as the namespace", ["identity", "list", "-n", "team-b"], 2, /^ERROR: -n no longer means the namespace on 'podid identity list': it takes no -n .*; the namespace is --namespace\nWrite --namespace team-b\.$/m],
  ["render binding -n as the namespace", ["render", "binding", "--identity", "a", "--selector", "b", "-n", "team-b"], 2, /on 'podid render binding': -n is now the binding's name/],
  ["render exception -n as the namespace", ["render", "exception", "--name", "e", "-n", "kube-system", "--pod-labels", "a=b"], 2, /on 'podid render exception': -n is now the exception's name/],
  // Where --name was required, an old command line had it: -n beside --name is the old use.
  ["exception add -n as the namespace", ["exception", "add", "--name", "e", "-n=kube-system", "--pod-labels", "a=b"], 2, /on 'podid exception add': -n is now the exception's name.*\nWrite --namespace kube-system\.$/m],
  ["exception delete -n as the namespace", ["exception", "delete", "--name", "e", "-n", "kube-system"], 2, /on 'podid exception delete'.*\nWrite --namespace kube-system\.$/m],
  ["exception list -n as the namespace", ["exception", "list", "-n", "kube-system"], 2, /on 'podid exception list': it takes no -n/],
  ["sandbox logs -n as the namespace", ["sandbox", "logs", "podid-nmi-x", "-n", "kube-system", "--dir", join(dir, "sb")], 2, /on 'podid sandbox logs': it takes no -n/],
  ["NMI port that is not a number", ["runtime", "nmi", "--node", "n", "--nmi-port", "http"], 2, /^ERROR: --nmi-port must be a port number from 0 to 65535, not 'http'\n/],
];

for (const [name, args, code, message, extraEnv] of cases) {
  test(`bad input: ${name}`, async () => {
    const r = await runPodid(args, { env: { ...env, ...extraEnv } });
    assert.equal(r.code, code, `exit code for ${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split("\n");
    assert.match(lines[0], /^ERROR: /);
    assert.match(r.stderr, message);
    assert.ok(lines.length >= 2 && lines[1].length > 0, "a second line says how to fix it");
    assert.equal(r.stdout, "", "nothing on stdout");
  });
}

test("-n alone is the name where the name was required (it was --name then), as on every command", async () => {
  const r = await runPodid(["render", "exception", "-n", "coredns", "--pod-labels", "k8s-app=kube-dns", "-o", "json"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { metadata: { name: string } }[])[0].metadata.name, "coredns");
});

test("-n with --namespace is the new -n/--name, where -n used to be the namespace", async () => {
  const r = await runPodid(["render", "binding", "--identity", "app-id", "--selector", "app", "-n", "app-binding", "--namespace", "team-b", "-o", "json"], { env });
  assert.equal(r.code, 0, r.stderr);
  const [binding] = JSON.parse(r.stdout) as { metadata: { name: string; namespace: string } }[];
  assert.equal(binding.metadata.name, "app-binding");
  assert.equal(binding.metadata.namespace, "team-b");
});

test("bad input creates no files anywhere near the sandbox dir", () => {
  assert.deepEqual(readdirSync(dir).sort(), ["kubeconfig"]);
});
