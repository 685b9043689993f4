import { setTimeout as sleep } from "node:timers/promises";
import { ManagedIdentityCredential } from "@azure/identity";
import { createDefaultHttpClient, type HttpClient } from "@azure/core-rest-pipeline";
import { DemoCode, DemoError } from "../../errors/index.js";
import { resolveCloud } from "../../azure/cloud.js";
import { AzureSession } from "../../azure/session.js";
import { computeInventory } from "../../azure/inventory.js";

/**
 * `podid runtime demo`: what aad-pod-identity's demo image does, with the plain Azure SDK. A
 * ManagedIdentityCredential with no endpoint of its own (the environment decides: IMDS, which NMI answers for
 * pods, or AZURE_POD_IDENTITY_AUTHORITY_HOST), then ARM with that credential to list the VMs and scale sets of a
 * resource group. Each round logs upstream's lines; a token is never printed.
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

export interface DemoRound {
  token: boolean;
  arm: boolean;
  vmCount?: number;
  scaleSetCount?: number;
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

/** The error's message on one line (the SDK's are multi-line, with links). */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** The appid claim of a JWT access token, to show which identity answered (never the token itself). */
export function tokenClientId(token: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { appid?: string; azp?: string };
    return claims.appid ?? claims.azp;
  } catch {
    return undefined;
  }
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

/** One round: a token, then the ARM listing. Never throws. */
export async function demoRound(
  options: DemoOptions,
  credential: ManagedIdentityCredential,
  azure: AzureSession,
  http?: ReturnType<typeof recordingHttpClient>,
): Promise<DemoRound> {
  const env = options.env ?? process.env;
  const log = options.log ?? defaultLog;
  const endpoint = msiEndpoint(env);
  const wanted = options.clientId ?? "";
  let clientId = wanted;
  if (http) http.lastError = undefined;
  try {
    const token = await credential.getToken(azure.cloud.armScope);
    clientId = tokenClientId(token.token) ?? wanted;
    log(`successfully acquired a token using the MSI, msiEndpoint(${endpoint}) clientID(${clientId})`);
  } catch (err) {
    const answered = http?.lastError;
    const reason = oneLine(err) + (answered ? ` (the endpoint answered ${answered.status}: ${answered.body || "no body"})` : "");
    log(`failed to acquire a token using the MSI, msiEndpoint(${endpoint}) clientID(${wanted}): ${reason}`);
    return { token: false, arm: false, reason };
  }
  try {
    const inventory = await computeInventory(azure, options.resourceGroup);
    log(`successfully doARMOperations vm count ${inventory.vmCount}`);
    log(`successfully doARMOperations scale set count ${inventory.scaleSets.length}${inventory.scaleSets.length ? ` (${inventory.scaleSets.map((s) => `${s.name}: ${s.instances} instances`).join(", ")})` : ""}`);
    return { token: true, arm: true, vmCount: inventory.vmCount, scaleSetCount: inventory.scaleSets.length };
  } catch (err) {
    const reason = oneLine(err);
    log(`failed doARMOperations in resource group ${options.resourceGroup}: ${reason}`);
    return { token: true, arm: false, reason };
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
  const credential = new ManagedIdentityCredential({ clientId: options.clientId, retryOptions: { maxRetries: 0 }, httpClient: http });
  const azure = new AzureSession(cloud, credential, options.subscriptionId);
  if (env.MY_POD_NAME || env.POD_NAME) {
    log(`starting demo pod ${env.MY_POD_NAMESPACE ?? env.POD_NAMESPACE ?? ""}/${env.MY_POD_NAME ?? env.POD_NAME} ${env.MY_POD_IP ?? env.POD_IP ?? ""}`.trimEnd());
  }
  for (;;) {
    const round = await demoRound(options, credential, azure, http);
    if (options.once) {
      if (round.token && round.arm) return round;
      throw new DemoError(round.token ? DemoCode.DemoArmFailed : DemoCode.DemoTokenFailed, round.token ? `the ARM calls failed: ${round.reason}` : `no token from the managed identity endpoint ${msiEndpoint(env)}: ${round.reason}`, {
        remedy: round.token
          ? `Give the identity Reader on resource group ${options.resourceGroup} (podid identity add --role Reader --scope <group id>).`
          : "In a pod: label it aadpodidbinding=<selector of a binding> and check `podid identity list`; on a VM: attach the identity to it.",
      });
    }
    await sleep(options.intervalMs);
  }
}
