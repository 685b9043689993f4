import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CLI, REPO_ROOT } from "../helpers/cli.js";

// A usage error (a required value missing where no prompt is possible, a malformed flag, flags that exclude each
// other, no subscription) is said before an action loads the Azure SDKs or the Kubernetes client: the built CLI runs
// in a child process whose every loaded module is recorded (a module customization hook), and each bundle file it
// loaded is traced back, through its source map, to the packages it holds. (Needs `npm run build`.)
const HEAVY = /^(@azure\/|@kubernetes\/client-node$|yaml$)/;

const dir = mkdtempSync(join(tmpdir(), "podid-usage-loads-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, "hooks.mjs"),
  `import { appendFileSync } from "node:fs";
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, nextLoad) { appendFileSync(file, url + "\\n"); return nextLoad(url, context); }
`,
);
writeFileSync(join(dir, "record.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)}, { data: { file: process.env.PODID_LOAD_RECORD } });\n`);

/** The packages whose code is in the files the run loaded (node_modules/<package>/ in their source maps). */
function packagesLoaded(urls: string[]): Set<string> {
  const packages = new Set<string>();
  for (const url of urls) {
    if (!url.startsWith("file:")) continue;
    const file = fileURLToPath(url);
    const sources: string[] = existsSync(`${file}.map`) ? JSON.parse(readFileSync(`${file}.map`, "utf8")).sources : [file];
    for (const source of sources) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(source);
      if (m) packages.add(m[1]);
    }
  }
  return packages;
}

let runs = 0;
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string; packages: Set<string>; urls: string[] }> {
  const record = join(dir, `record-${runs++}`);
  writeFileSync(record, "");
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", pathToFileURL(join(dir, "record.mjs")).href, CLI, ...args],
      // stdin and stdout are pipes: no prompt is possible. Nothing may reach a cluster or Azure.
      { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: "1", KUBECONFIG: join(dir, "no-kubeconfig"), AZURE_SUBSCRIPTION_ID: "", PODID_LOAD_RECORD: record, ...env }, timeout: 60_000 },
      (err, _stdout, stderr) => {
        const urls = readFileSync(record, "utf8").split("\n").filter(Boolean);
        resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stderr, packages: packagesLoaded(urls), urls });
      },
    );
  });
}

const SUBSCRIPTION = { AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000001" };

// Every command with a required flag, without it; and the other refusals that need neither Azure nor the cluster.
const CASES: [string[], RegExp, NodeJS.ProcessEnv?][] = [
  [["identity", "add", "-g", "rg"], /required: -n\/--name/, SUBSCRIPTION],
  [["identity", "add", "-n", "app-id"], /required: -g\/--resource-group/, SUBSCRIPTION],
  [["identity", "add", "-n", "app-id", "-g", "rg"], /no subscription given/],
  [["identity", "add", "-n", "app-id", "-g", "rg", "--namespace", "Not_A_Namespace"], /namespace/i, SUBSCRIPTION],
  [["identity", "add", "-n", "app-id", "-g", "rg", "--scope", "/subscriptions/x"], /--scope was given without --role/, SUBSCRIPTION],
  [["identity", "show"], /required: -n\/--name/],
  [["identity", "delete", "--yes"], /required: -n\/--name/],
  [["identity", "delete", "-n", "app-id", "--yes"], /no subscription given/],
  [["identity", "list", "-A", "--namespace", "team-a"], /cannot be used together/],
  [["bind", "--selector", "app"], /required: --identity/],
  [["bind", "--identity", "app-id"], /required: --selector/],
  [["bind", "--identity", "app-id", "--selector", "app", "--label", "nokind"], /nokind/],
  [["unbind"], /required: --identity/],
  [["exception", "add", "--pod-labels", "a=b"], /required: -n\/--name/],
  [["exception", "add", "-n", "ex"], /required: --pod-labels/],
  [["exception", "delete"], /required: -n\/--name/],
  [["render", "identity", "--resource-id", "/x", "--client-id", "x"], /required: -n\/--name/],
  [["render", "binding", "--selector", "app"], /required: --identity/],
  [["render", "exception", "--pod-labels", "a=b"], /required: -n\/--name/],
  [["runtime", "demo"], /required: --resource-group/, SUBSCRIPTION],
  [["migrate", "apply", "--namespace", "team-a"], /no subscription given/],
  [["migrate", "plan", "-A", "--namespace", "team-a"], /cannot be used together/],
  [["migrate", "apply", "--timeout", "soon"], /--timeout/, SUBSCRIPTION],
  [["install", "--timeout", "soon"], /--timeout/, SUBSCRIPTION],
  [["install"], /no subscription given/],
  [["doctor", "--stuck-after", "soon"], /--stuck-after/],
  [["doctor", "--probe"], /--probe needs --pod/],
];

for (const [args, message, env] of CASES) {
  test(`podid ${args.join(" ")}: a usage error, with no Azure SDK, Kubernetes client or yaml loaded`, async () => {
    const r = await run(args, env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(r.urls.some((u) => u.endsWith("/dist/cli/main.js")), "the recorder saw the CLI load");
    assert.deepEqual([...r.packages].filter((p) => HEAVY.test(p)), []);
  });
}

// The recorder is what the cases above rely on: it must see the heavy packages when an action does load them.
test("the load recorder sees the Kubernetes client when an action loads it", async () => {
  const r = await run(["identity", "list"]);
  assert.match(r.stderr, /kubeconfig/);
  assert.ok(r.packages.has("@kubernetes/client-node"), [...r.packages].join(", "));
});
