import { isKubeStatus } from "../errors.js";
import type { KubeObject } from "../types.js";
import { CronJobController } from "./cron-job.js";
import { daemonSetStatus, reconcileDaemonSet } from "./daemon-set.js";
import { deploymentStatus, reconcileDeployment } from "./deployment.js";
import { reconcileJob } from "./job.js";
import { KINDS, type CronJob, type DaemonSet, type Deployment, type Job, type ReplicaSet, type StatefulSet } from "./objects.js";
import type { ControllerContext } from "./pods.js";
import { reconcileReplicaSet, replicaSetStatus } from "./replica-set.js";
import { schedule } from "./scheduler.js";
import { reconcileStatefulSet, statefulSetStatus } from "./stateful-set.js";

export type { ControllerContext } from "./pods.js";
export { templateHash } from "./pods.js";

/**
 * The controller-manager and scheduler the sandbox's nodes need: CronJobs make Jobs, Deployments own ReplicaSets
 * (one per pod template), ReplicaSets, DaemonSets, StatefulSets and Jobs own pods, the scheduler binds pods to nodes;
 * each keeps its owner's status true. All of it is level-triggered: `reconcile()` looks at everything and fixes
 * what differs.
 */
export class ControllerManager {
  private readonly cronJobs: CronJobController;

  constructor(private readonly ctx: ControllerContext) {
    this.cronJobs = new CronJobController(ctx);
  }

  reconcile(): void {
    this.each<CronJob>(KINDS.cronJob, (cj) => this.cronJobs.reconcile(cj));
    this.each<Deployment>(KINDS.deployment, (d) => reconcileDeployment(this.ctx, d));
    this.each<ReplicaSet>(KINDS.replicaSet, (rs) => reconcileReplicaSet(this.ctx, rs));
    this.each<DaemonSet>(KINDS.daemonSet, (ds) => reconcileDaemonSet(this.ctx, ds));
    this.each<StatefulSet>(KINDS.statefulSet, (sts) => reconcileStatefulSet(this.ctx, sts));
    this.each<Job>(KINDS.job, (job) => reconcileJob(this.ctx, job));
    schedule(this.ctx);
    // Owners' status once their pods exist.
    this.each<ReplicaSet>(KINDS.replicaSet, (rs) => replicaSetStatus(this.ctx, rs));
    this.each<Deployment>(KINDS.deployment, (d) => deploymentStatus(this.ctx, d));
    this.each<DaemonSet>(KINDS.daemonSet, (ds) => daemonSetStatus(this.ctx, ds));
    this.each<StatefulSet>(KINDS.statefulSet, (sts) => statefulSetStatus(this.ctx, sts));
  }

  /** Runs a controller over every live object of a kind. */
  private each<T extends KubeObject>(kind: { apiVersion: string; kind: string }, fn: (o: T) => void): void {
    for (const o of this.ctx.store.list<T>(kind).items) {
      if (o.metadata.deletionTimestamp) continue;
      try {
        fn(o);
      } catch (err) {
        // Another writer got there first or the object went away: the next reconcile sees the new state.
        if (!isKubeStatus(err, 404, 409)) throw err;
      }
    }
  }
}
