import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ClientSecretCredential } from "@azure/identity";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { KubeConfig } from "@kubernetes/client-node";
import type { SandboxRuntimeInfo } from "../../src/sandbox/layout.js";
import { runPodid, runShell, CLI } from "./cli.js";
import { trustCa } from "./trust-ca.js";

/** A sandbox started through the CLI for one test file, and the environment `podid sandbox env` gives. */
export interface SandboxFixture {
  dir: string;
  info: SandboxRuntimeInfo;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/**
 * The real SDK clients a test checks the sandbox's state with, signed in as the sandbox CLI's principal; the
 * sandbox CA is trusted in this process from now on.
 */
export function sandboxClients(sb: SandboxFixture) {
  trustCa(readFileSync(join(sb.dir, "ca.pem"), "utf8"));
  const credential = new ClientSecretCredential(sb.info.tenantId, sb.info.clientId, readFileSync(join(sb.dir, "client-secret"), "utf8"), {
    authorityHost: sb.info.endpoints.activeDirectory,
    disableInstanceDiscovery: true,
  });
  const options = { endpoint: sb.info.endpoints.resourceManager, credentialScopes: [sb.info.endpoints.activeDirectoryResourceId + ".default"] };
  const kc = new KubeConfig();
  kc.loadFromFile(join(sb.dir, "kubeconfig"));
  return {
    credential,
    msi: new ManagedServiceIdentityClient(credential, sb.info.subscriptionId, options),
    auth: new AuthorizationManagementClient(credential, sb.info.subscriptionId, options),
    kc,
  };
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
