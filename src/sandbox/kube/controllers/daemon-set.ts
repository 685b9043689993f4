import type { DaemonSet } from "./objects.js";
import { createPod, deletePod, isActive, isFinished, isPodReady, ownedPods, templateHash, writeStatus, type ControllerContext } from "./pods.js";
import { eligible } from "./scheduler.js";

/**
 * The DaemonSet controller: one pod per eligible node, bound to it at creation, replaced when the template changes
 * (at most maxUnavailable at a time, an old pod that is not available anyway at once).
 */

function maxUnavailable(value: number | string | undefined, total: number): number {
  if (value === undefined) return 1;
  if (typeof value === "number") return Math.max(1, value);
  const pct = /^(\d+)%$/.exec(value);
  return Math.max(1, pct ? Math.floor((total * Number(pct[1])) / 100) : Number(value) || 1);
}

function nodesFor(ctx: ControllerContext, ds: DaemonSet) {
  return ctx.nodes().filter((n) => eligible(n, ds.spec.template.spec ?? {}));
}

export function reconcileDaemonSet(ctx: ControllerContext, ds: DaemonSet): void {
  const template = ds.spec.template;
  const hash = templateHash(template);
  const nodes = nodesFor(ctx, ds);
  const names = new Set(nodes.map((n) => n.metadata.name));
  const pods = ownedPods(ctx, ds).filter((p) => !p.metadata.deletionTimestamp);
  for (const p of pods) {
    if (!names.has(p.spec?.nodeName) || isFinished(p)) deletePod(ctx, ds, p);
  }
  const live = pods.filter((p) => names.has(p.spec?.nodeName) && isActive(p));
  for (const n of nodes) {
    if (!live.some((p) => p.spec?.nodeName === n.metadata.name)) createPod(ctx, ds, template, { labels: { "controller-revision-hash": hash }, spec: { nodeName: n.metadata.name } });
  }
  if (ds.spec.updateStrategy?.type === "OnDelete") return;
  const unavailable = nodes.filter((n) => !live.some((p) => p.spec?.nodeName === n.metadata.name && isPodReady(p))).length;
  let budget = maxUnavailable(ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable, nodes.length) - unavailable;
  for (const p of live) {
    if (p.metadata.labels?.["controller-revision-hash"] === hash) continue;
    // As the DaemonSet controller: an old pod that is not available anyway is replaced at once, outside the
    // budget (else one broken rollout could never be rolled forward).
    if (!isPodReady(p)) {
      deletePod(ctx, ds, p);
      continue;
    }
    if (budget <= 0) continue;
    deletePod(ctx, ds, p);
    budget--;
  }
}

export function daemonSetStatus(ctx: ControllerContext, ds: DaemonSet): void {
  const hash = templateHash(ds.spec.template);
  const nodes = nodesFor(ctx, ds);
  const names = new Set(nodes.map((n) => n.metadata.name));
  const pods = ownedPods(ctx, ds).filter(isActive);
  const scheduled = pods.filter((p) => names.has(p.spec?.nodeName));
  const ready = scheduled.filter(isPodReady).length;
  writeStatus(ctx, ds, {
    currentNumberScheduled: new Set(scheduled.map((p) => p.spec?.nodeName)).size,
    desiredNumberScheduled: nodes.length,
    numberMisscheduled: pods.length - scheduled.length,
    numberReady: ready,
    numberAvailable: ready,
    ...(nodes.length - ready > 0 ? { numberUnavailable: nodes.length - ready } : {}),
    updatedNumberScheduled: scheduled.filter((p) => p.metadata.labels?.["controller-revision-hash"] === hash).length,
    observedGeneration: ds.metadata.generation,
  });
}
