import { CoordinationV1Api, type V1Lease } from "@kubernetes/client-node";
import { NotLeaderError } from "../util/cancel.js";
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
  /** Called with the new term when this instance starts leading; the term ends when leadership does. */
  onStartedLeading?: (term: LeaderTerm) => void;
  onStoppedLeading?: () => void;
  logger: Logger;
}

/**
 * One uninterrupted stretch of leadership. Its signal aborts the moment leadership ends (lost, not renewed in
 * time, or given up), so work begun as leader is cancelled; `check()` fences every write a leader makes.
 */
export interface LeaderTerm {
  readonly signal: AbortSignal;
  /** Throws NotLeaderError once the term is over. */
  check(): void;
}

export interface LeaderElection {
  isLeader(): boolean;
  /**
   * Stops renewing at once and ends the current term (aborting its work), waits for `drain` (the leader's
   * in-flight work, already cancelled), then gives the lease up (release=true) so another takes over at once.
   */
  stop(options?: { release?: boolean; drain?: () => Promise<void> }): Promise<void>;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does: a holder renews every
 * retry period; others take the lease over when its record has not changed for a whole lease duration, judged
 * by their own clock (no clock comparison across machines). Writes use resourceVersion, so two candidates
 * can never both win. A leader counts its lease from the moment it sent the renewal and steps down when the
 * renew deadline (half the lease) passes without another, well before anyone else may take over.
 */
export function startLeaderElection(kube: KubeSession, options: LeaderElectionOptions): LeaderElection {
  const api = kube.config.makeApiClient(CoordinationV1Api);
  const { namespace, name, identity, leaseDurationMs, logger } = options;
  const retryPeriodMs = Math.max(50, Math.floor(leaseDurationMs / 4));
  const renewDeadlineMs = Math.floor(leaseDurationMs / 2);
  let term: AbortController | undefined;
  let lastRenewed = 0;
  let stepDown: NodeJS.Timeout | undefined;
  let observed = "";
  let observedAt = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const leading = () => term !== undefined && !term.signal.aborted;

  const endTerm = (why: string) => {
    clearTimeout(stepDown);
    if (!term) return;
    const ended = term;
    term = undefined;
    logger.info(`${identity} ${why} (lease ${namespace}/${name})`);
    ended.abort(new NotLeaderError(identity));
    options.onStoppedLeading?.();
  };

  /** A renewal sent at `sentAt` succeeded: leadership holds until the renew deadline counted from then. */
  const renewed = (sentAt: number) => {
    lastRenewed = sentAt;
    clearTimeout(stepDown);
    stepDown = setTimeout(() => endTerm("did not renew the lease in time and stopped leading"), Math.max(0, lastRenewed + renewDeadlineMs - Date.now()));
    if (term || stopped) return;
    const started = new AbortController();
    term = started;
    logger.info(`${identity} became the leader (lease ${namespace}/${name})`);
    options.onStartedLeading?.({
      signal: started.signal,
      check: () => {
        if (started.signal.aborted || stopped || Date.now() - lastRenewed >= renewDeadlineMs) throw new NotLeaderError(identity);
      },
    });
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
    const sentAt = Date.now();
    const now = new Date(sentAt);
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isKubeNotFound(err)) throw err;
      try {
        await api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: record({ spec: {} } as V1Lease, now).spec } });
        if (!stopped) renewed(sentAt);
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
      endTerm("lost the leader lease");
      const expired = !holder || Date.now() - observedAt >= leaseDurationMs;
      if (!expired) return;
    }
    try {
      await api.replaceNamespacedLease({ name, namespace, body: record(lease, now) });
      if (!stopped) renewed(sentAt);
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
  };

  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, retryPeriodMs);
    });
  };
  loop();

  /** client-go's ReleaseOnCancel: the holder cleared, so a candidate takes the lease at its next try. */
  const release = async () => {
    const lease = await api.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    const now = new Date();
    await api.replaceNamespacedLease({
      name,
      namespace,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now, acquireTime: now } },
    });
    logger.info(`${identity} released the leader lease ${namespace}/${name}`);
  };

  return {
    isLeader: () => leading() && !stopped && Date.now() - lastRenewed < renewDeadlineMs,
    async stop({ release: give = true, drain } = {}) {
      const wasLeader = leading();
      stopped = true;
      clearTimeout(timer);
      endTerm("stopped leading (shutting down)");
      // An API server that does not answer must not hold the shutdown: a renewal or release still hanging after this
      // long is left behind (the lease then expires on its own).
      await Promise.all([within(running, STOP_WAIT_MS), drain?.()]);
      if (!wasLeader || !give) return;
      try {
        if (!(await within(release().then(() => true), STOP_WAIT_MS))) logger.warn(`could not release the lease ${namespace}/${name} within ${STOP_WAIT_MS} ms: the API server does not answer; it expires on its own`);
      } catch (err) {
        logger.warn(`could not release the lease ${namespace}/${name}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
      }
    },
  };
}

/** How long shutdown waits for one call to the API server (a renewal under way, the release). */
const STOP_WAIT_MS = 2000;

/** The promise's value, or undefined once `ms` have passed (the promise goes on, unawaited). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
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
