import { setTimeout as sleep } from "node:timers/promises";
import { ManagedIdentityCredential, WorkloadIdentityCredential, type TokenCredential } from "@azure/identity";
import { createDefaultHttpClient, type HttpClient } from "@azure/core-rest-pipeline";
import { demoResultLine, type DemoResult } from "../../aadpodidentity/contract/demo-result.js";
import { DemoCode, DemoError } from "../../errors/index.js";
import { isKnownAuthority, resolveCloud } from "../../azure/cloud.js";
import { AzureSession } from "../../azure/session.js";
import { computeInventory } from "../../azure/inventory.js";
import { unverifiedIdentityClaims } from "../../util/jwt-claims.js";

/**
 * `podid runtime demo`: what aad-pod-identity's demo image does, with the plain Azure SDK, on either identity path,
 * chosen by the environment as DefaultAzureCredential chooses (workload identity before managed identity): with
 * AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID (what the workload identity webhook injects) a
 * WorkloadIdentityCredential, which exchanges the pod's projected token with Entra ID; otherwise a
 * ManagedIdentityCredential with no endpoint of its own (IMDS, which NMI or the workload identity proxy answers for
 * pods, or AZURE_POD_IDENTITY_AUTHORITY_HOST). Then ARM with that credential lists the VMs and scale sets of a
 * resource group. Each round logs upstream's lines, naming the path; a token is never printed.
 */
export interface DemoOptions {
  subscriptionId: string;
  resourceGroup: string;
  clientId?: string;
  once: boolean;
  intervalMs: number;
  env?: NodeJS.ProcessEnv;
  /** One log line (default: stdout with a timestamp, so that a pod's log shows it). */
  log?: (line: string) => void;
}

/** A round's result (logged as its result line), and why it failed, in words. */
export interface DemoRound extends DemoResult {
  reason?: string;
}

const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";

/** Where the SDK will ask for the token, as upstream's demo prints it (adal's GetMSIVMEndpoint). */
export function msiEndpoint(env: NodeJS.ProcessEnv): string {
  if (env.IDENTITY_ENDPOINT) return env.IDENTITY_ENDPOINT;
  if (env.MSI_ENDPOINT) return env.MSI_ENDPOINT;
  const host = (env.AZURE_POD_IDENTITY_AUTHORITY_HOST ?? "http://169.254.169.254").replace(/\/+$/, "");
  return host + IMDS_TOKEN_PATH;
}

/** The credential a round uses, and how its log lines name it. */
export interface DemoCredential {
  credential: TokenCredential;
  path: "managed identity" | "workload identity";
  /** `using the MSI, msiEndpoint(...)` or `using workload identity, tokenFile(...)`. */
  describe: string;
}

/** Workload identity when its three variables are set (DefaultAzureCredential's order), else managed identity. */
export function demoCredential(env: NodeJS.ProcessEnv, clientId: string | undefined, http: HttpClient): DemoCredential {
  const tokenFile = env.AZURE_FEDERATED_TOKEN_FILE;
  if (tokenFile && env.AZURE_TENANT_ID && (clientId ?? env.AZURE_CLIENT_ID)) {
    const authorityHost = env.AZURE_AUTHORITY_HOST;
    const credential = new WorkloadIdentityCredential({
      tenantId: env.AZURE_TENANT_ID,
      clientId: clientId ?? env.AZURE_CLIENT_ID,
      tokenFilePath: tokenFile,
      ...(authorityHost ? { authorityHost, disableInstanceDiscovery: !isKnownAuthority(authorityHost) } : {}),
      httpClient: http,
    });
    return { credential, path: "workload identity", describe: `using workload identity, tokenFile(${tokenFile})` };
  }
  const credential = new ManagedIdentityCredential({ clientId, retryOptions: { maxRetries: 0 }, httpClient: http });
  return { credential, path: "managed identity", describe: `using the MSI, msiEndpoint(${msiEndpoint(env)})` };
}

/** Where the token did not come from, in the failure's words. */
function noTokenFrom(demo: DemoCredential, env: NodeJS.ProcessEnv): string {
  return demo.path === "workload identity" ? `no token through workload identity (federated token file ${env.AZURE_FEDERATED_TOKEN_FILE})` : `no token from the managed identity endpoint ${msiEndpoint(env)}`;
}

/** The error's message on one line (the SDK's are multi-line, with links). */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** The appid claim of a JWT access token, to show which identity answered (never the token itself). */
export function tokenClientId(token: string): string | undefined {
  return unverifiedIdentityClaims(token).clientId;
}

/**
 * The SDK's HTTP client, remembering the last error answer of the token endpoint: the SDK reports a non-JSON error
 * body (NMI's refusals are plain text, as upstream's) as "Network unreachable", which hides why.
 */
export function recordingHttpClient(): HttpClient & { lastError?: { status: number; body: string } } {
  const base = createDefaultHttpClient();
  const client: HttpClient & { lastError?: { status: number; body: string } } = {
    async sendRequest(request) {
      const response = await base.sendRequest(request);
      if (response.status >= 400) client.lastError = { status: response.status, body: (response.bodyAsText ?? "").trim().split("\n")[0].slice(0, 300) };
      return response;
    },
  };
  return client;
}

function defaultLog(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/** One round: a token, then the ARM listing; its human lines, then its result line. Never throws. */
export async function demoRound(
  options: DemoOptions,
  demo: DemoCredential,
  azure: AzureSession,
  http?: ReturnType<typeof recordingHttpClient>,
): Promise<DemoRound> {
  const round = await tokenAndListing(options, demo, azure, http);
  const { reason: _reason, ...result } = round;
  (options.log ?? defaultLog)(demoResultLine(result));
  return round;
}

async function tokenAndListing(
  options: DemoOptions,
  demo: DemoCredential,
  azure: AzureSession,
  http?: ReturnType<typeof recordingHttpClient>,
): Promise<DemoRound> {
  const env = options.env ?? process.env;
  const log = options.log ?? defaultLog;
  const { credential, describe } = demo;
  const wanted = options.clientId ?? (demo.path === "workload identity" ? env.AZURE_CLIENT_ID ?? "" : "");
  let clientId = wanted;
  if (http) http.lastError = undefined;
  try {
    const token = await credential.getToken(azure.cloud.armScope);
    if (!token) throw new Error("the credential returned no token");
    clientId = tokenClientId(token.token) ?? wanted;
    log(`successfully acquired a token ${describe} clientID(${clientId})`);
  } catch (err) {
    // MSAL already reports Entra ID's own error; only an IMDS answer needs showing (see recordingHttpClient).
    const answered = demo.path === "managed identity" ? http?.lastError : undefined;
    const reason = oneLine(err) + (answered ? ` (the endpoint answered ${answered.status}: ${answered.body || "no body"})` : "");
    log(`failed to acquire a token ${describe} clientID(${wanted}): ${reason}`);
    return { token: false, arm: false, path: demo.path, reason, ...(answered ? { endpointStatus: answered.status } : {}) };
  }
  try {
    const inventory = await computeInventory(azure, options.resourceGroup);
    log(`successfully doARMOperations vm count ${inventory.vmCount}`);
    log(`successfully doARMOperations scale set count ${inventory.scaleSets.length}${inventory.scaleSets.length ? ` (${inventory.scaleSets.map((s) => `${s.name}: ${s.instances} instances`).join(", ")})` : ""}`);
    return { token: true, clientId, arm: true, path: demo.path, vmCount: inventory.vmCount, scaleSetCount: inventory.scaleSets.length };
  } catch (err) {
    const reason = oneLine(err);
    log(`failed doARMOperations in resource group ${options.resourceGroup}: ${reason}`);
    return { token: true, clientId, arm: false, path: demo.path, reason };
  }
}

/**
 * Runs rounds every interval until stopped; with `once`, one round whose failure is the command's error.
 * The SDK's own retries of 404/410 are off: NMI already waits for an assignment, and the loop is the retry.
 */
export async function runDemo(options: DemoOptions): Promise<DemoRound> {
  const env = options.env ?? process.env;
  const log = options.log ?? defaultLog;
  const cloud = resolveCloud(undefined, env);
  const http = recordingHttpClient();
  const demo = demoCredential(env, options.clientId, http);
  const azure = new AzureSession(cloud, demo.credential, options.subscriptionId);
  if (env.MY_POD_NAME || env.POD_NAME) {
    log(`starting demo pod ${env.MY_POD_NAMESPACE ?? env.POD_NAMESPACE ?? ""}/${env.MY_POD_NAME ?? env.POD_NAME} ${env.MY_POD_IP ?? env.POD_IP ?? ""}`.trimEnd());
  }
  log(`getting tokens through ${demo.path}`);
  for (;;) {
    const round = await demoRound(options, demo, azure, http);
    if (options.once) {
      if (round.token && round.arm) return round;
      throw new DemoError(round.token ? DemoCode.DemoArmFailed : DemoCode.DemoTokenFailed, round.token ? `the ARM calls failed: ${round.reason}` : `${noTokenFrom(demo, env)}: ${round.reason}`, {
        remedy: round.token
          ? `Give the identity Reader on resource group ${options.resourceGroup} (podid identity add --role Reader --scope <group id>).`
          : demo.path === "workload identity"
            ? "Give the identity a federated identity credential for the pod's ServiceAccount: the cluster's OIDC issuer URL, subject system:serviceaccount:<namespace>:<serviceaccount>, audience api://AzureADTokenExchange."
            : "In a pod: label it aadpodidbinding=<selector of a binding> and check `podid identity list`; on a VM: attach the identity to it.",
      });
    }
    await sleep(options.intervalMs);
  }
}
