import { hostname } from "node:os";
import type { KubernetesObject, V1Node, V1Pod } from "@kubernetes/client-node";
import { PREEXISTING_ANNOTATION, preexistingEntries } from "../../aadpodidentity/contract/preexisting.js";
import { BINDING_LABEL, type AzureAssignedIdentity, type AzureIdentity, type AzureIdentityBinding, type AzurePodIdentityException } from "../../aadpodidentity/types.js";
import type { AzureSession } from "../../azure/session.js";
import {
  AZURE_ASSIGNED_IDENTITY_KIND,
  AZURE_IDENTITY_BINDING_KIND,
  AZURE_IDENTITY_KIND,
  AZURE_POD_IDENTITY_EXCEPTION_KIND,
} from "../../kube/assigned-identities.js";
import { NODE_KIND, POD_KIND, startCache, type Cache, type InformerEvent } from "../../kube/informer.js";
import { LeaseAnnotationStore, startLeaderElection, type LeaderElection, type LeaderTerm } from "../../kube/lease.js";
import type { KubeSession } from "../../kube/session.js";
import { isCancellation } from "../../util/cancel.js";
import type { Logger } from "../../util/logger.js";
import { startProbeServers } from "../probes.js";
import { MicMetrics } from "./metrics.js";
import type { Snapshot } from "./plan.js";
import { Reconciler, type PreexistingStore, type ReconcileOptions } from "./reconcile.js";

/** After an abort, how long shutdown waits for writes already sent before it gives the lease up. */
const STOP_DRAIN_MS = 2000;

/** The record of pre-existing identities, kept on the leader Lease so that every later leader inherits it. */
function leaseStore(kube: KubeSession, options: MicOptions): PreexistingStore {
  const store = new LeaseAnnotationStore(kube, options.leaderElection.namespace, options.leaderElection.name, PREEXISTING_ANNOTATION);
  return {
    load: async () => preexistingEntries(await store.read()),
    save: (targetId, ids) => store.merge({ [targetId]: ids }),
  };
}

export interface MicOptions extends ReconcileOptions {
  /** --syncRetryDuration: periodic full cycle. */
  syncRetryDurationMs: number;
  /** --identity-assignment-reconcile-interval: a cycle re-checks (and re-attaches) what the scale sets hold. */
  identityAssignmentReconcileIntervalMs: number;
  leaderElection: { namespace: string; name: string; durationMs: number; identity?: string };
  /** Ports for /healthz and /metrics; 0 picks a free one; undefined serves none. */
  httpProbePort?: number;
  prometheusPort?: number;
  /** Where the probe and metrics servers listen (default all interfaces). */
  listenHost?: string;
  /** Events arriving within this window make one cycle (default 50 ms). */
  coalesceMs?: number;
}

export interface Mic {
  readonly metrics: MicMetrics;
  readonly reconciler: Reconciler;
  isLeader(): boolean;
  /** Bound ports (after start), when served. */
  readonly httpProbePort?: number;
  readonly prometheusPort?: number;
  /** Resolves when no cycle runs and none is due (for tests and shutdown). */
  idle(): Promise<void>;
  /**
   * Stops at once: no more renewals, the running cycle aborted (its ARM calls cancelled, its writes fenced), then
   * the lease released so a successor takes over, then watches and servers stopped. release=false simulates a
   * crash: the lease is left to expire.
   */
  stop(options?: { release?: boolean }): Promise<void>;
}

/**
 * MIC: informers on the six kinds only mark the state dirty; one loop (leader only) runs level-triggered,
 * coalesced sync cycles over cache snapshots, plus a periodic full resync. Everything it talks to is injected.
 * Resolves once every cache has listed; an abort of `signal` before then stops what started and rejects.
 */
export async function startMic(deps: { kube: KubeSession; azure: AzureSession; options: MicOptions; logger: Logger; signal?: AbortSignal }): Promise<Mic> {
  const { kube, azure, options, logger, signal } = deps;
  const metrics = new MicMetrics();
  const reconciler = new Reconciler(kube, azure, options, logger, metrics, leaseStore(kube, options));
  let stopped = false;
  let dirty = true;
  let running: Promise<void> | undefined;
  let due: NodeJS.Timeout | undefined;
  let retryDelayMs = 1000;
  let retryTimer: NodeJS.Timeout | undefined;
  let election: LeaderElection | undefined;
  let term: LeaderTerm | undefined;

  const isLeader = () => Boolean(election?.isLeader()) && !stopped;

  const runCycles = async () => {
    while (dirty && isLeader() && term) {
      dirty = false;
      try {
        const result = await reconciler.sync(snapshot(), term);
        if (result.pending) scheduleRetry();
        else retryDelayMs = 1000;
      } catch (err) {
        if (isCancellation(err)) {
          logger.info("sync cycle stopped: this instance no longer leads");
          return;
        }
        logger.error(`sync cycle failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
        scheduleRetry();
      }
    }
  };
  const kick = () => {
    due = undefined;
    if (running || stopped || !isLeader()) return;
    running = runCycles().finally(() => {
      running = undefined;
      if (dirty) kick();
    });
  };
  const markDirty = () => {
    dirty = true;
    if (!due && !stopped) due = setTimeout(kick, options.coalesceMs ?? 50);
  };
  function scheduleRetry() {
    if (retryTimer || stopped) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      markDirty();
    }, retryDelayMs);
    retryDelayMs = Math.min(60_000, retryDelayMs * 2);
  }

  // Pods matter only when their node, binding label or termination changes (as upstream), not on every status update.
  const podSignatures = new Map<string, string>();
  const onPod = (event: InformerEvent, pod: V1Pod) => {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (event === "delete") {
      podSignatures.delete(key);
      if (pod.metadata?.labels?.[BINDING_LABEL]) markDirty();
      return;
    }
    const signature = `${pod.spec?.nodeName ?? ""}|${pod.metadata?.labels?.[BINDING_LABEL] ?? ""}|${pod.metadata?.deletionTimestamp ? "x" : ""}|${pod.metadata?.uid ?? ""}`;
    if (podSignatures.get(key) !== signature) {
      podSignatures.set(key, signature);
      markDirty();
    }
  };
  const any = () => markDirty();
  const caches: Cache<KubernetesObject>[] = [];
  const cache = async <T extends KubernetesObject>(kind: Parameters<typeof startCache>[1], onEvent: (e: InformerEvent, o: T) => void) => {
    const c = await startCache<T>(kube, kind, onEvent, logger, { signal });
    caches.push(c as unknown as Cache<KubernetesObject>);
    return c;
  };
  const starting = [
    cache<V1Pod>(POD_KIND, onPod),
    cache<AzureIdentity & KubernetesObject>(AZURE_IDENTITY_KIND, any),
    cache<AzureIdentityBinding & KubernetesObject>(AZURE_IDENTITY_BINDING_KIND, any),
    cache<V1Node>(NODE_KIND, (event) => event !== "update" && markDirty()),
    // Our own status writes come back as updates: only adds and deletes (a hand-deleted one) need a cycle.
    cache<AzureAssignedIdentity & KubernetesObject>(AZURE_ASSIGNED_IDENTITY_KIND, (event) => event !== "update" && markDirty()),
    // Exceptions concern NMI only; watched so MIC's view of the kinds is complete (and its RBAC checked early).
    cache<AzurePodIdentityException & KubernetesObject>(AZURE_POD_IDENTITY_EXCEPTION_KIND, () => undefined),
  ] as const;
  const [pods, identities, bindings, nodes, assigned] = await Promise.all(starting).catch(async (err: unknown) => {
    // Stopped (signal aborted) before every cache synced: the ones that did are stopped too, nothing is left running.
    await Promise.allSettled(starting);
    await Promise.all(caches.map((c) => c.stop()));
    throw err;
  });
  function snapshot(): Snapshot {
    return { pods: pods.list(), identities: identities.list(), bindings: bindings.list(), nodes: nodes.list(), assigned: assigned.list() };
  }

  const identity = options.leaderElection.identity ?? `${hostname()}-${process.pid}`;
  election = startLeaderElection(kube, {
    namespace: options.leaderElection.namespace,
    name: options.leaderElection.name,
    identity,
    leaseDurationMs: options.leaderElection.durationMs,
    logger,
    onStartedLeading: (started) => {
      term = started;
      metrics.leader.set(1);
      logger.info("sync thread started.");
      markDirty();
    },
    onStoppedLeading: () => {
      term = undefined;
      metrics.leader.set(0);
    },
  });
  const timers = [setInterval(markDirty, options.syncRetryDurationMs), setInterval(markDirty, options.identityAssignmentReconcileIntervalMs)];

  // Active (upstream's word) while this instance leads: the standby answers "Not Active", yet 200.
  const probes = await startProbeServers({ probePort: options.httpProbePort, metricsPort: options.prometheusPort, host: options.listenHost, healthy: isLeader, registry: metrics.registry });

  return {
    metrics,
    reconciler,
    isLeader,
    httpProbePort: probes.probePort,
    prometheusPort: probes.metricsPort,
    async idle() {
      for (;;) {
        if (running) await running;
        else if (due || (dirty && isLeader())) await new Promise((r) => setTimeout(r, 20));
        else return;
      }
    },
    async stop({ release = true } = {}) {
      stopped = true;
      for (const t of timers) clearInterval(t);
      clearTimeout(due);
      clearTimeout(retryTimer);
      // The cycle was aborted with the term; a write already on the wire is given a moment to answer.
      const drain = async () => {
        if (running) await Promise.race([running, new Promise((r) => setTimeout(r, STOP_DRAIN_MS).unref())]);
      };
      await election?.stop({ release, drain });
      await Promise.all(caches.map((c) => c.stop()));
      await probes.close();
    },
  };
}
