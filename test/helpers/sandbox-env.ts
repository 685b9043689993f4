import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { runPodid, runShell, CLI } from "./cli.js";

/** A sandbox started through the CLI for one test file, and the environment `podid sandbox env` gives. */
export interface SandboxFixture {
  dir: string;
  info: {
    tenantId: string;
    subscriptionId: string;
    clientId: string;
    resourceGroup: string;
    clusterName: string;
    nodeResourceGroup: string;
    location: string;
    endpoints: { activeDirectory: string; resourceManager: string; activeDirectoryResourceId: string; kubernetes: string };
    nodes: { name: string; imds: string; instanceId: string; internalIP: string }[];
  };
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startSandbox(options: { nodes?: number; replicationDelaySeconds?: number } = {}): Promise<SandboxFixture> {
  const dir = mkdtempSync(join(tmpdir(), "podid-test-"));
  const args = ["sandbox", "start", "--dir", dir, "--nodes", String(options.nodes ?? 2)];
  if (options.replicationDelaySeconds !== undefined) args.push("--replication-delay", String(options.replicationDelaySeconds));
  const started = await runPodid(args);
  if (started.code !== 0) throw new Error(`sandbox start failed: ${started.stderr}`);
  const envOut = await runShell(`eval "$(node ${CLI} sandbox env --dir ${dir})" && env -0`);
  const env: NodeJS.ProcessEnv = {};
  for (const entry of envOut.stdout.split("\0")) {
    const at = entry.indexOf("=");
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  const wanted = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST", "AZURE_SUBSCRIPTION_ID", "PODID_CLOUD", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "KUBECONFIG"];
  const sandboxEnv = Object.fromEntries(wanted.map((k) => [k, env[k]]));
  return {
    dir,
    info: JSON.parse(readFileSync(join(dir, "sandbox.json"), "utf8")),
    env: sandboxEnv,
    stop: async () => {
      await runPodid(["sandbox", "stop", "--dir", dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
