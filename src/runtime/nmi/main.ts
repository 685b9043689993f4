import { readFileSync } from "node:fs";
import { KUBENET_REFUSAL } from "../../aadpodidentity/contract/messages.js";
import { RuntimeCode, RuntimeError, UsageCode, UsageError } from "../../errors/index.js";
import { loadEndpoint } from "../../kube/lite/endpoint.js";
import type { Logger } from "../../util/logger.js";
import { endProcessSoon } from "../../util/shutdown.js";
import { startNmi } from "./nmi.js";
import type { NmiOptions } from "./options.js";

/**
 * Upstream's kubenet guard, and how podid knows the plugin: `--network-plugin` when given (the sandbox and
 * clusters without the AKS kubelet defaults file say it there), else the kubelet defaults file
 * (`--kubelet-config`, /etc/default/kubelet on AKS) searched for `--network-plugin=kubenet`, as upstream.
 * A missing file is not fatal here (upstream: fatal) — the node is then assumed to run a CNI plugin, and the
 * log says so. Returns the reason to refuse, or undefined.
 */
export function kubenetRefusal(input: { allowKubenet: boolean; networkPlugin?: string; kubeletConfig: string }, logger: Logger, read: (path: string) => string = (p) => readFileSync(p, "utf8")): string | undefined {
  if (input.allowKubenet) return undefined;
  if (input.networkPlugin !== undefined) return input.networkPlugin.toLowerCase() === "kubenet" ? KUBENET_REFUSAL : undefined;
  let text: string;
  try {
    text = read(input.kubeletConfig);
  } catch (err) {
    logger.warn(`cannot read ${input.kubeletConfig} to check for kubenet (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); assuming a CNI network plugin. Pass --network-plugin to say which.`);
    return undefined;
  }
  return text.includes("--network-plugin=kubenet") ? KUBENET_REFUSAL : undefined;
}

export interface RunNmiInput {
  options: NmiOptions;
  kubeconfig?: string;
  allowKubenet: boolean;
  networkPlugin?: string;
  kubeletConfig: string;
  logger: Logger;
}

/** `podid runtime nmi`: runs until SIGTERM/SIGINT, then removes its iptables redirect and returns. */
export async function runNmi(input: RunNmiInput): Promise<void> {
  const { logger, options } = input;
  if (!options.node) throw new UsageError("NMI needs the node name", "Pass --node or set NODE_NAME (the manifests set it from spec.nodeName).", UsageCode.NodeNameMissing);
  const refusal = kubenetRefusal(input, logger);
  if (refusal) throw new RuntimeError(RuntimeCode.KubenetNotSupported, refusal, { remedy: "Use a CNI network plugin, or pass --allow-network-plugin-kubenet after reading the page above." });
  let cluster;
  try {
    cluster = loadEndpoint({ kubeconfig: input.kubeconfig });
  } catch (err) {
    throw new UsageError(`cannot read the cluster's address and credential: ${(err as Error).message}`, "Pass --kubeconfig, set KUBECONFIG, or run NMI in a pod with its ServiceAccount.", UsageCode.KubeconfigInvalid);
  }
  // AZURE_POD_IDENTITY_AUTHORITY_HOST is where Azure SDKs look for IMDS when it is not 169.254.169.254: NMI honours it too.
  const imdsBaseUrl = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST || undefined;
  const nmi = await startNmi({ cluster, options, authorityHost: process.env.AZURE_AUTHORITY_HOST, imdsBaseUrl, logger });
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  logger.info(`received ${signal}, shutting down`);
  await nmi.stop();
  logger.info("handled termination");
  endProcessSoon();
}
