import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { V1Pod } from "@kubernetes/client-node";
import { IPTABLES_FAILED, IPTABLES_NOT_INSTALLED } from "../../aadpodidentity/contract/messages.js";
import { REMOVE_REDIRECT_COMMANDS } from "../../aadpodidentity/contract/names.js";
import { RedirectState } from "../../aadpodidentity/contract/nmi-reports.js";
import { LiteKubeClient } from "../../kube/lite/client.js";
import type { KubeEndpoint } from "../../kube/lite/endpoint.js";
import { assignedIdentitiesOnNode, azureIdentities, deploymentsIn, podIdentityExceptions, podsOnNode, replicaSetsIn } from "../../kube/watch-cache.js";
import { createLogger, type Logger } from "../../util/logger.js";
import { DecisionLog } from "./decisions.js";
import { ensureRedirect, iptablesBinary, IptablesError, removeRedirect, type IptablesRunner, type RedirectRule } from "./iptables.js";
import { handoverOnStop } from "./handover.js";
import { closeServer, listenOn, PORT_BUSY_WAIT_MS, startProbeServers, type ProbeServers } from "../probes.js";
import { NmiMetrics } from "./metrics.js";
import { NMI_DEFAULTS, type NmiOptions } from "./options.js";
import { RedirectReporter, type RedirectReport } from "./report.js";
import { createNmiHandler, remoteIp } from "./server.js";
import { TokenSource } from "./tokens.js";

export interface StartNmiInput {
  /** The API server and NMI's credential for it (its ServiceAccount in a cluster). */
  cluster: KubeEndpoint;
  options: Partial<NmiOptions> & { node: string };
  /** The node's IMDS; default http://<metadata-ip>:<metadata-port>. */
  imdsBaseUrl?: string;
  /** Authority for type 1 identities without adEndpoint (the cloud's). */
  authorityHost?: string;
  logger?: Logger;
  iptables?: IptablesRunner;
}

export interface RunningNmi {
  port: number;
  address: string;
  metrics: NmiMetrics;
  /** Stops serving and watching, and removes the iptables redirect if it was installed. */
  stop(): Promise<void>;
}

/**
 * The token server's limits: headers (request line included) up to 8 KiB (431 beyond; the request-target alone is
 * refused with 414 past MAX_TARGET_LENGTH), all headers within 10 s and the whole request within 30 s (408), checked
 * every second — so a slow sender holds only its own connection, briefly. Waiting for an identity happens after
 * the request is read and is not bounded by these. A missing Host header is judged (and recorded) by
 * canonicalRequest rather than answered by Node unseen.
 */
const SERVER_LIMITS = { maxHeaderSize: 8192, headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000, keepAlive: true, requireHostHeader: false } as const;

/** Node's own answers to what its HTTP parser cannot read (as it sends them without a listener), on the record. */
function answerUnreadable(err: NodeJS.ErrnoException, socket: Socket, decisions: DecisionLog): void {
  const source = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, text, reason] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "headers-too-large"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "HPE_HEADERS_TIMEOUT"
        ? [408, "Request Timeout", "request-timeout"]
        : [400, "Bad Request", "malformed-http"];
  decisions.record({ outcome: "refused", reason, status, source });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * Starts NMI in this process: caches synced, then the token server, then (if asked) the iptables redirect.
 *
 * Where podid's NMI differs from upstream (aad-pod-identity 1.8.x), on purpose:
 * - Waiting for an assignment is event-driven (the AzureAssignedIdentity watch), bounded by the same
 *   (created + assigned) x interval budget; the answer comes as soon as the status turns Assigned.
 * - With several Assigned identities and none asked for, the first by AzureIdentity namespace/name is used
 *   (upstream: cache order, "random"); the answer is always one JSON object (upstream's array exists only
 *   for multi-tenant service principals, which this NMI does not issue).
 * - client_id / resource ids compare case-insensitively at selection too; object_id is honoured (upstream
 *   ignores it): the node's IMDS maps it to a client id, which must then be one of the pod's identities.
 * - Every request is canonicalized first (canonical-request.ts) and decided on that form; only IMDS paths that serve
 *   no token are forwarded, as their canonical path and re-serialized query; every decision is logged and counted.
 * - MIC's pods are known by their owner chain to the podid-mic Deployment in --MICNamespace, never by a name prefix.
 * - Exception pods (and MIC's) go to the node's IMDS, fenced off the identities AzureIdentities name unless
 *   assigned to them (--allow-exception-pod-identities restores upstream's any-identity behaviour).
 * - Tokens are cached per (identity, resource) until 5 minutes before expiry (upstream: no cache).
 * - iptables missing or not permitted: logged, NMI keeps serving (upstream: fatal).
 * - The redirect's state (installed, failed, not permitted; the recovery too) is recorded as Events on the Node
 *   (aadpodidentity/contract/nmi-reports.ts), which doctor reads.
 * - Type 2 (certificate) identities answer 403 "not supported".
 */
export async function startNmi(input: StartNmiInput): Promise<RunningNmi> {
  const options: NmiOptions = { ...NMI_DEFAULTS, ...input.options };
  const logger = input.logger ?? createLogger("info", undefined, "nmi: ");
  const kube = new LiteKubeClient(input.cluster);
  const onError = (what: string) => (err: unknown, delay: number) => logger.warn(`${what} watch failed (${(err as Error)?.message ?? String(err)}); restarting in ${delay} ms`);
  const pods = podsOnNode(kube, options.node, { onError: onError("pod") });
  const assigned = assignedIdentitiesOnNode(kube, options.node, { onError: onError("AzureAssignedIdentity") });
  const exceptions = podIdentityExceptions(kube, { onError: onError("AzurePodIdentityException") });
  const identities = azureIdentities(kube, { onError: onError("AzureIdentity") });
  const replicaSets = replicaSetsIn(kube, options.micNamespace, { onError: onError("ReplicaSet") });
  const deployments = deploymentsIn(kube, options.micNamespace, { onError: onError("Deployment") });
  const caches = [pods, assigned, exceptions, identities, replicaSets, deployments];
  await Promise.all(caches.map((c) => c.start()));
  logger.info(`running NMI in namespaced mode: ${options.forceNamespaced}`);

  const imdsBaseUrl = input.imdsBaseUrl ?? `http://${options.metadataIp}:${options.metadataPort}`;
  const metrics = new NmiMetrics();
  const tokens = new TokenSource({
    imdsBaseUrl,
    kube,
    defaultAuthorityHost: input.authorityHost,
    onFetch: (kind, ok, ms) => {
      const labels = { operation_type: kind === "imds" ? "adal_token_msi_userassignedid" : "adal_token" };
      metrics.imds.observe(labels, ms / 1000);
      if (!ok) metrics.imdsErrors.inc(labels);
    },
  });
  let active = !options.iptables;
  const hostAddresses = new Set(["127.0.0.1", ...(options.hostIp ? [options.hostIp] : [])]);
  // Active (as upstream's /healthz says it) once the redirect is in place and every cache has listed once.
  const healthy = () => active && caches.every((c) => c.synced());
  const decisions = new DecisionLog(logger, metrics);
  let authorities: ReadonlySet<string> = new Set();
  const handler = createNmiHandler({
    options,
    pods,
    assigned,
    exceptions,
    identities,
    replicaSets,
    deployments,
    tokens,
    livePod: (namespace, name, signal) => kube.get<V1Pod>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, {}, signal),
    imdsBaseUrl,
    logger,
    metrics,
    decisions,
    hostAddresses,
    authorities: () => authorities,
    health: healthy,
  });
  const server = createServer(SERVER_LIMITS, handler);
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => answerUnreadable(err, socket, decisions));
  // CONNECT (a tunnel through NMI) is nothing IMDS serves; without this listener Node drops the socket unrecorded.
  server.on("connect", (req: IncomingMessage, socket: Socket) => {
    decisions.record({ outcome: "refused", reason: "method-not-allowed", status: 405, source: remoteIp(req) });
    socket.end("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });
  const stopCaches = () => Promise.all(caches.map((c) => c.stop())).then(() => kube.close());
  let probes: ProbeServers | undefined;
  try {
    await listenOn(server, options.port, options.listenAddress, PORT_BUSY_WAIT_MS);
    probes = await startProbeServers({ probePort: options.httpProbePort, metricsPort: options.prometheusPort, host: "0.0.0.0", healthy, registry: metrics.registry });
  } catch (err) {
    await Promise.all([closeServer(server), stopCaches()]);
    throw err;
  }
  const closeAll = () => Promise.all([closeServer(server), probes!.close(), stopCaches()]);
  const port = (server.address() as AddressInfo).port;
  // An absolute-form request-target may name the metadata address (what pods call) or this node (where NMI listens).
  const nodeAddresses = [...new Set([options.listenAddress, ...hostAddresses])];
  authorities = new Set([options.metadataIp, `${options.metadataIp}:${options.metadataPort}`, ...nodeAddresses.flatMap((a) => [a, `${a}:${port}`])]);
  logger.info(`listening on ${options.listenAddress}:${port}`);

  // iptables: install, then re-assert every interval; never fatal when the process may not touch the tables.
  const runner = input.iptables ?? iptablesBinary();
  const rule: RedirectRule = {
    metadataIp: options.metadataIp,
    metadataPort: options.metadataPort,
    targetIp: options.hostIp ?? (options.listenAddress === "0.0.0.0" ? "127.0.0.1" : options.listenAddress),
    targetPort: port,
  };
  let installed = false;
  let iptTimer: NodeJS.Timeout | undefined;
  const reporter = new RedirectReporter(kube, options.node, logger);
  let lastState: RedirectState | undefined;
  // Checked at start and every interval, also while it cannot be installed: the state NMI reports stays current.
  const assertRules = async () => {
    let report: RedirectReport;
    try {
      const changes = await ensureRedirect(runner, rule);
      for (const change of changes) logger.warn(change);
      installed = true;
      active = true;
      const message = changes.length ? changes.join("; ") : `the redirect of ${options.metadataIp}:${options.metadataPort} to ${rule.targetIp}:${rule.targetPort} is in place`;
      report = { state: RedirectState.Installed, message, changed: changes.length > 0 };
    } catch (err) {
      if (err instanceof IptablesError && err.notPermitted) {
        const message = `${IPTABLES_NOT_INSTALLED}: ${err.message}. Pods reach NMI only if something else sends ${options.metadataIp}:${options.metadataPort} here.`;
        if (lastState !== RedirectState.NotPermitted) logger.warn(message);
        report = { state: RedirectState.NotPermitted, message, changed: false };
      } else {
        const message = `${IPTABLES_FAILED}${(err as Error).message}`;
        logger.error(message);
        report = { state: RedirectState.Failed, message, changed: false };
      }
    }
    if (report.state === RedirectState.Installed && lastState !== undefined && lastState !== RedirectState.Installed) logger.info(`the iptables redirect is in place again: ${report.message}`);
    lastState = report.state;
    await reporter.report(report);
  };
  if (options.iptables) {
    await assertRules();
    iptTimer = setInterval(() => void assertRules(), options.iptUpdateIntervalSec * 1000);
    iptTimer.unref();
  }

  let stopped: Promise<void> | undefined;
  return {
    port,
    address: options.listenAddress,
    metrics,
    stop() {
      stopped ??= (async () => {
        if (iptTimer) clearInterval(iptTimer);
        const handover = installed ? await handoverOnStop(kube, options.ownPod) : "removed";
        if (installed && handover !== "removed") {
          if (handover === "successor") logger.info("the iptables redirect stays for the NMI that replaces this one (its DaemonSet remains): until it listens, pods' metadata requests fail rather than reach the node's identity");
          else logger.error(`the API server could not say whether another NMI replaces this one, so the iptables redirect stays (pods' metadata requests fail rather than reach the node's identity); without NMI on this node, remove it as root: ${REMOVE_REDIRECT_COMMANDS}`);
          await closeAll();
          return;
        }
        if (installed) {
          try {
            await removeRedirect(runner);
          } catch (err) {
            logger.error(`removing the iptables redirect: ${(err as Error).message}`);
            throw err;
          } finally {
            await closeAll();
          }
          return;
        }
        await closeAll();
      })();
      return stopped;
    },
  };
}
