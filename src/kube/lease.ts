import { CoordinationV1Api, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "../util/logger.js";
import { isKubeConflict, isKubeNotFound } from "./errors.js";
import type { KubeSession } from "./session.js";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** This instance (upstream: the pod name). */
  identity: string;
  /** How long a lease holds without renewal; renew deadline is half of it, the retry period a quarter. */
  leaseDurationMs: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  logger: Logger;
}

export interface LeaderElection {
  isLeader(): boolean;
  /** Stops contending; a leader gives the lease up (release=true) so another takes over at once. */
  stop(options?: { release?: boolean }): Promise<void>;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does: a holder renews every
 * retry period; others take the lease over when its record has not changed for a whole lease duration, judged
 * by their own clock (no clock comparison across machines). Writes use resourceVersion, so two candidates
 * can never both win.
 */
export function startLeaderElection(kube: KubeSession, options: LeaderElectionOptions): LeaderElection {
  const api = kube.config.makeApiClient(CoordinationV1Api);
  const { namespace, name, identity, leaseDurationMs, logger } = options;
  const retryPeriodMs = Math.max(50, Math.floor(leaseDurationMs / 4));
  const renewDeadlineMs = Math.floor(leaseDurationMs / 2);
  let leader = false;
  let lastRenewed = 0;
  let observed = "";
  let observedAt = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const setLeader = (value: boolean) => {
    if (value === leader) return;
    leader = value;
    logger.info(value ? `${identity} became the leader (lease ${namespace}/${name})` : `${identity} lost the leader lease ${namespace}/${name}`);
    (value ? options.onStartedLeading : options.onStoppedLeading)?.();
  };

  const record = (lease: V1Lease, now: Date) => {
    const spec = lease.spec ?? {};
    return {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
        renewTime: now,
        acquireTime: spec.holderIdentity === identity ? spec.acquireTime : now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (spec.holderIdentity === identity ? 0 : 1),
      },
    } as V1Lease;
  };

  const tryAcquireOrRenew = async () => {
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isKubeNotFound(err)) throw err;
      try {
        await api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: record({ spec: {} } as V1Lease, now).spec } });
        lastRenewed = Date.now();
        setLeader(true);
      } catch (createErr) {
        if (!isKubeConflict(createErr)) throw createErr;
      }
      return;
    }
    const holder = lease.spec?.holderIdentity ?? "";
    const key = `${holder}|${String(lease.spec?.renewTime ?? "")}|${lease.metadata?.resourceVersion ?? ""}`;
    if (key !== observed) {
      observed = key;
      observedAt = Date.now();
    }
    if (holder !== identity) {
      if (leader) setLeader(false);
      const expired = !holder || Date.now() - observedAt >= leaseDurationMs;
      if (!expired) return;
    }
    try {
      await api.replaceNamespacedLease({ name, namespace, body: record(lease, now) });
      lastRenewed = Date.now();
      setLeader(true);
    } catch (err) {
      if (!isKubeConflict(err)) throw err;
    }
  };

  const tick = async () => {
    try {
      await tryAcquireOrRenew();
    } catch (err) {
      logger.warn(`leader election on ${namespace}/${name}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
    }
    if (leader && Date.now() - lastRenewed > renewDeadlineMs) setLeader(false);
  };

  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, retryPeriodMs);
    });
  };
  loop();

  return {
    isLeader: () => leader && !stopped,
    async stop({ release = true } = {}) {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (leader && release) {
        try {
          const lease = await api.readNamespacedLease({ name, namespace });
          if (lease.spec?.holderIdentity === identity) {
            await api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 } } });
          }
        } catch (err) {
          logger.warn(`could not release the lease ${namespace}/${name}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
        }
      }
      setLeader(false);
    },
  };
}

/**
 * Reads and merges into a JSON annotation on the leader Lease: state the leader must hand to its successor
 * (MIC's record of identities that were on a scale set before it). Only the leader writes; a conflict with
 * its own renewal is retried.
 */
export class LeaseAnnotationStore {
  private readonly api: CoordinationV1Api;

  constructor(
    kube: KubeSession,
    private readonly namespace: string,
    private readonly name: string,
    private readonly key: string,
  ) {
    this.api = kube.config.makeApiClient(CoordinationV1Api);
  }

  async read(): Promise<Record<string, unknown>> {
    const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    return parseRecord(lease.metadata?.annotations?.[this.key]);
  }

  async merge(entries: Record<string, unknown>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
      const annotations = { ...lease.metadata?.annotations };
      annotations[this.key] = JSON.stringify({ ...parseRecord(annotations[this.key]), ...entries });
      try {
        await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...lease, metadata: { ...lease.metadata, annotations } } });
        return;
      } catch (err) {
        if (!isKubeConflict(err) || attempt >= 5) throw err;
      }
    }
  }
}

function parseRecord(text: string | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
