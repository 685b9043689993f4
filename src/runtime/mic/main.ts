import { clusterAzureFromConfig, readAzureJson } from "../../azure/cloud-config-file.js";
import { openAzureSession } from "../../azure/session.js";
import { openKubeSession } from "../../kube/session.js";
import type { Logger } from "../../util/logger.js";
import { endProcessSoon } from "../../util/shutdown.js";
import { startMic, type Mic, type MicOptions } from "./mic.js";

export interface RunMicInput {
  options: MicOptions;
  kubeconfig?: string;
  /** --cloudconfig: the node's azure.json (in a cluster); else podid's cloud profile and credential from the environment. */
  cloudconfig?: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

/** `podid runtime mic`: runs until SIGTERM/SIGINT, then stops reconciling and gives the lease up. */
export async function runMic(input: RunMicInput): Promise<void> {
  const { logger } = input;
  const env = input.env ?? process.env;
  const kube = openKubeSession({ kubeconfig: input.kubeconfig }, env);
  const immutable = [...input.options.immutableClientIds];
  let azure;
  if (input.cloudconfig) {
    const cluster = clusterAzureFromConfig(readAzureJson(input.cloudconfig), env);
    azure = cluster.session;
    // The identity MIC runs as (the kubelet identity on AKS) is never detached, as upstream since v1.7.5.
    if (cluster.clusterIdentityClientId) immutable.push(cluster.clusterIdentityClientId);
  } else {
    azure = openAzureSession({ subscription: env.AZURE_SUBSCRIPTION_ID ?? env.SUBSCRIPTION_ID, env });
    if (env.USER_ASSIGNED_MSI_CLIENT_ID) immutable.push(env.USER_ASSIGNED_MSI_CLIENT_ID);
  }
  logger.info(`MIC starting: cloud ${azure.cloud.name}, subscription ${azure.subscriptionId}, API server ${kube.server}`);
  const received = new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  // A signal while the caches still wait for their first list (API server unreachable, RBAC missing) stops them too.
  const shutdown = new AbortController();
  void received.then((signal) => shutdown.abort(signal));
  let mic: Mic;
  try {
    mic = await startMic({ kube, azure, options: { ...input.options, immutableClientIds: immutable }, logger, signal: shutdown.signal });
  } catch (err) {
    if (!shutdown.signal.aborted) throw err;
    logger.info(`received ${String(shutdown.signal.reason)} before the caches synced, shutting down`);
    return;
  }
  logger.info(`received ${await received}, shutting down`);
  await mic.stop();
  endProcessSoon();
}
