import { createHash } from "node:crypto";
import type { KubeObject, KubeStore, OwnerReference } from "../kube/index.js";
import { isKubeStatus, KubeError, kubeTime, matchesLabelSelector, SAFE_ALPHABET, type LabelSelector } from "../kube/index.js";

/**
 * The controller-manager and scheduler the sandbox needs: Deployments own ReplicaSets (one per pod template) and
 * roll from one to the next as their strategy says, ReplicaSets and DaemonSets own pods, the scheduler binds pods
 * to nodes; each keeps its owner's status true. All of it is level-triggered: `reconcile()` looks at everything and
 * fixes what differs.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- specs are read loosely until the controllers work on typed kinds (issue 13, item 5)
type Loose = Record<string, any>;
type Obj = KubeObject & { spec?: Loose; status?: Loose };

const POD = { apiVersion: "v1", kind: "Pod" };
const RS = { apiVersion: "apps/v1", kind: "ReplicaSet" };
const DEPLOYMENT = { apiVersion: "apps/v1", kind: "Deployment" };
const DAEMONSET = { apiVersion: "apps/v1", kind: "DaemonSet" };
const MANAGER = "kube-controller-manager";

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  return value;
}

/** A short, stable, DNS-safe hash of a pod template (the pod-template-hash / controller-revision-hash label). */
export function templateHash(template: unknown): string {
  const digest = createHash("sha256").update(JSON.stringify(canonical(template))).digest();
  return Array.from(digest.subarray(0, 10), (b) => SAFE_ALPHABET[b % SAFE_ALPHABET.length]).join("");
}

function ownerRef(owner: Obj): OwnerReference {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name ?? "", uid: owner.metadata.uid ?? "", controller: true, blockOwnerDeletion: true };
}

function controllerUid(o: Obj): string | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

function active(pod: Obj): boolean {
  return !pod.metadata.deletionTimestamp && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";
}

export function isPodReady(pod: Obj): boolean {
  return (pod.status?.conditions as { type: string; status: string }[] | undefined)?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Conditions keep their lastTransitionTime while their status stays. */
function conditions(prior: { type: string; status: string; lastTransitionTime?: string }[] | undefined, next: { type: string; status: string; reason: string; message: string }[]) {
  return next.map((c) => {
    const old = prior?.find((p) => p.type === c.type);
    const time = old && old.status === c.status ? old.lastTransitionTime : kubeTime();
    return { ...c, lastUpdateTime: old && old.status === c.status ? ((old as { lastUpdateTime?: string }).lastUpdateTime ?? time) : time, lastTransitionTime: time };
  });
}

function sameStatus(a: unknown, b: unknown): boolean {
  const strip = (s: unknown) => JSON.stringify(canonical(s), (k, v) => (k === "lastTransitionTime" || k === "lastUpdateTime" ? undefined : v));
  return strip(a) === strip(b);
}

export interface ControllerHooks {
  event(object: Obj, type: "Normal" | "Warning", reason: string, message: string): void;
  /** Nodes whose pods can run (the sandbox's own). */
  nodes(): Obj[];
}

export class Controllers {
  constructor(
    private readonly store: KubeStore,
    private readonly hooks: ControllerHooks,
  ) {}

  reconcile(): void {
    for (const d of this.store.list<Obj>(DEPLOYMENT).items) this.guard(d, () => this.deployment(d));
    for (const rs of this.store.list<Obj>(RS).items) this.guard(rs, () => this.replicaSet(rs));
    for (const ds of this.store.list<Obj>(DAEMONSET).items) this.guard(ds, () => this.daemonSet(ds));
    this.schedule();
    // Owners' status once their pods exist.
    for (const rs of this.store.list<Obj>(RS).items) this.guard(rs, () => this.replicaSetStatus(rs));
    for (const d of this.store.list<Obj>(DEPLOYMENT).items) this.guard(d, () => this.deploymentStatus(d));
    for (const ds of this.store.list<Obj>(DAEMONSET).items) this.guard(ds, () => this.daemonSetStatus(ds));
  }

  private guard(o: Obj, fn: () => void): void {
    if (o.metadata.deletionTimestamp) return;
    try {
      fn();
    } catch (err) {
      // Another writer got there first or the object went away: the next reconcile sees the new state.
      if (!isKubeStatus(err, 404, 409)) throw err;
    }
  }

  private ownedPods(owner: Obj): Obj[] {
    return this.store.list<Obj>(POD, { namespace: owner.metadata.namespace }).items.filter((p) => controllerUid(p) === owner.metadata.uid);
  }

  private writeStatus(o: Obj, status: Record<string, unknown>): void {
    if (sameStatus(o.status ?? {}, status)) return;
    this.store.updateStatus({ ...o, status }, { fieldManager: MANAGER });
  }

  /**
   * Deployments: one ReplicaSet per template. RollingUpdate (the default) scales the current one up by at most
   * maxSurge pods above spec.replicas and the old ones down only while maxUnavailable allows, counting ready pods,
   * as the deployment controller does (so a new template whose pods never become ready leaves the old pods
   * serving); Recreate scales the old ones to 0 and starts the new pods once the old ones are gone.
   */
  private deployment(d: Obj): void {
    const template = d.spec!.template;
    const hash = templateHash(template);
    const replicas = d.spec!.replicas ?? 1;
    const owned = this.store.list<Obj>(RS, { namespace: d.metadata.namespace }).items.filter((rs) => controllerUid(rs) === d.metadata.uid);
    let current = owned.find((rs) => rs.metadata.labels?.["pod-template-hash"] === hash);
    const old = owned.filter((rs) => rs !== current).sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
    const specOf = (rs: Obj) => (rs.spec!.replicas as number | undefined) ?? 0;
    const readyOf = (rs: Obj) => this.ownedPods(rs).filter((p) => active(p) && isPodReady(p)).length;
    const scale = (rs: Obj, to: number) => {
      if (specOf(rs) === to) return;
      const down = to < specOf(rs);
      this.store.update({ ...rs, spec: { ...rs.spec, replicas: to } }, { fieldManager: MANAGER });
      rs.spec = { ...rs.spec, replicas: to };
      this.hooks.event(d, "Normal", "ScalingReplicaSet", `Scaled ${down ? "down" : "up"} replica set ${rs.metadata.name} to ${to}`);
    };
    const setCurrent = (to: number) => {
      if (current) scale(current, to);
      else current = this.createReplicaSet(d, hash, to, Math.max(0, ...owned.map((rs) => Number(rs.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? 0))) + 1);
    };
    if (d.spec!.strategy?.type === "Recreate") {
      for (const rs of old) scale(rs, 0);
      setCurrent(old.some((rs) => this.ownedPods(rs).length > 0) ? 0 : replicas);
      return;
    }
    const { surge, unavailable } = rollingBounds(d.spec!.strategy?.rollingUpdate, replicas);
    const total = owned.reduce((sum, rs) => sum + specOf(rs), 0);
    const now = current ? specOf(current) : 0;
    setCurrent(now >= replicas ? replicas : now + Math.max(0, Math.min(replicas + surge - total, replicas - now)));
    const minAvailable = replicas - unavailable;
    let budget = old.reduce((sum, rs) => sum + specOf(rs), specOf(current!)) - minAvailable - (specOf(current!) - readyOf(current!));
    // Old pods that are not ready go first: they serve nothing.
    for (const rs of old) {
      const unhealthy = Math.min(budget, specOf(rs) - readyOf(rs));
      if (unhealthy <= 0) continue;
      scale(rs, specOf(rs) - unhealthy);
      budget -= unhealthy;
    }
    let down = [current!, ...old].reduce((sum, rs) => sum + Math.min(specOf(rs), readyOf(rs)), 0) - minAvailable;
    for (const rs of old) {
      const n = Math.min(specOf(rs), down);
      if (n <= 0) continue;
      scale(rs, specOf(rs) - n);
      down -= n;
    }
  }

  private createReplicaSet(d: Obj, hash: string, replicas: number, revision: number): Obj {
    const template = d.spec!.template;
    const labels = { ...(template.metadata?.labels ?? {}), "pod-template-hash": hash };
    const name = `${d.metadata.name}-${hash}`;
    const rs = this.store.create<Obj>({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name,
        namespace: d.metadata.namespace,
        labels,
        annotations: { "deployment.kubernetes.io/revision": String(revision), "deployment.kubernetes.io/desired-replicas": String(d.spec!.replicas ?? 1) },
        ownerReferences: [ownerRef(d)],
      },
      spec: {
        replicas,
        selector: { ...d.spec!.selector, matchLabels: { ...(d.spec!.selector?.matchLabels ?? {}), "pod-template-hash": hash } },
        template: { ...template, metadata: { ...(template.metadata ?? {}), labels } },
      },
    }, { fieldManager: MANAGER });
    this.hooks.event(d, "Normal", "ScalingReplicaSet", `Scaled up replica set ${name} to ${replicas}`);
    return rs;
  }

  private deploymentStatus(d: Obj): void {
    const hash = templateHash(d.spec!.template);
    const desired = d.spec!.replicas ?? 1;
    const owned = this.store.list<Obj>(RS, { namespace: d.metadata.namespace }).items.filter((rs) => controllerUid(rs) === d.metadata.uid);
    const pods = owned.flatMap((rs) => this.ownedPods(rs).filter(active).map((p) => ({ p, current: rs.metadata.labels?.["pod-template-hash"] === hash })));
    const ready = pods.filter(({ p }) => isPodReady(p)).length;
    const updated = pods.filter(({ current }) => current).length;
    const available = ready;
    const currentName = `${d.metadata.name}-${hash}`;
    const complete = updated === desired && pods.length === desired && available === desired;
    this.writeStatus(d, {
      observedGeneration: d.metadata.generation,
      replicas: pods.length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      ...(desired - available > 0 ? { unavailableReplicas: desired - available } : {}),
      conditions: conditions(d.status?.conditions, [
        available >= desired
          ? { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability." }
          : { type: "Available", status: "False", reason: "MinimumReplicasUnavailable", message: "Deployment does not have minimum availability." },
        complete
          ? { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable", message: `ReplicaSet "${currentName}" has successfully progressed.` }
          : { type: "Progressing", status: "True", reason: "ReplicaSetUpdated", message: `ReplicaSet "${currentName}" is progressing.` },
      ]),
    });
  }

  /** Owners whose last pod creation was refused, and when to try again (the controllers' rate-limited requeue). */
  private readonly createBackoff = new Map<string, { retryAt: number; delayMs: number }>();

  /**
   * Creates a pod for the owner. A refusal (admission, a missing ServiceAccount) is the owner's FailedCreate
   * Warning, retried with backoff as the controllers do; it never stops the other owners' reconcile.
   */
  private newPod(owner: Obj, template: Loose, extra: { labels?: Record<string, string>; nodeName?: string } = {}): boolean {
    const uid = owner.metadata.uid ?? "";
    const backoff = this.createBackoff.get(uid);
    if (backoff && Date.now() < backoff.retryAt) return false;
    let pod: Obj;
    try {
      pod = this.create(owner, template, extra);
    } catch (err) {
      if (!(err instanceof KubeError) || err.code >= 500) throw err;
      const delayMs = Math.min(30_000, (backoff?.delayMs ?? 500) * 2);
      this.createBackoff.set(uid, { retryAt: Date.now() + delayMs, delayMs });
      this.hooks.event(owner, "Warning", "FailedCreate", `Error creating: ${err.message}`);
      return false;
    }
    this.createBackoff.delete(uid);
    this.hooks.event(owner, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`);
    return true;
  }

  private create(owner: Obj, template: Loose, extra: { labels?: Record<string, string>; nodeName?: string }): Obj {
    return this.store.create<Obj>({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        generateName: `${owner.metadata.name}-`,
        namespace: owner.metadata.namespace,
        labels: { ...(template.metadata?.labels ?? {}), ...(extra.labels ?? {}) },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
        ownerReferences: [ownerRef(owner)],
      },
      spec: { ...template.spec, ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) },
    }, { fieldManager: MANAGER });
  }

  private deletePod(owner: Obj, pod: Obj): void {
    this.store.delete({ ...POD, namespace: pod.metadata.namespace, name: pod.metadata.name ?? "" });
    this.hooks.event(owner, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`);
  }

  private replicaSet(rs: Obj): void {
    const pods = this.ownedPods(rs).filter(active);
    const desired = rs.spec!.replicas ?? 1;
    for (let i = pods.length; i < desired; i++) if (!this.newPod(rs, rs.spec!.template)) break;
    if (pods.length > desired) {
      // Unscheduled, then not ready, then the youngest go first, as the ReplicaSet controller ranks them.
      const rank = (p: Obj) => (p.spec?.nodeName ? 0 : 2) + (isPodReady(p) ? 0 : 1);
      const victims = [...pods].sort((a, b) => rank(b) - rank(a) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)));
      for (const p of victims.slice(0, pods.length - desired)) this.deletePod(rs, p);
    }
  }

  private replicaSetStatus(rs: Obj): void {
    const pods = this.ownedPods(rs).filter(active);
    const ready = pods.filter(isPodReady).length;
    const selector = rs.spec!.template?.metadata?.labels ?? {};
    this.writeStatus(rs, {
      replicas: pods.length,
      fullyLabeledReplicas: pods.filter((p) => Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation,
    });
  }

  private eligible(node: Obj, spec: Loose): boolean {
    const selector: Record<string, string> = spec.nodeSelector ?? {};
    if (!Object.entries(selector).every(([k, v]) => node.metadata.labels?.[k] === v)) return false;
    const taints: { key: string; effect: string; value?: string }[] = node.spec?.taints ?? [];
    const tolerations: { key?: string; operator?: string; value?: string; effect?: string }[] = spec.tolerations ?? [];
    return taints
      .filter((t) => t.effect === "NoSchedule" || t.effect === "NoExecute")
      .every((t) => tolerations.some((tol) => (tol.operator === "Exists" && (!tol.key || tol.key === t.key)) || (tol.key === t.key && (tol.value ?? "") === (t.value ?? ""))));
  }

  // DaemonSets: one pod per eligible node, replaced when the template changes (at most maxUnavailable at a time).
  private daemonSet(ds: Obj): void {
    const template = ds.spec!.template;
    const hash = templateHash(template);
    const nodes = this.hooks.nodes().filter((n) => this.eligible(n, template.spec ?? {}));
    const names = new Set(nodes.map((n) => n.metadata.name));
    const pods = this.ownedPods(ds).filter((p) => !p.metadata.deletionTimestamp);
    for (const p of pods) {
      if (!names.has(p.spec?.nodeName) || p.status?.phase === "Failed" || p.status?.phase === "Succeeded") this.deletePod(ds, p);
    }
    const live = pods.filter((p) => names.has(p.spec?.nodeName) && active(p));
    for (const n of nodes) {
      if (!live.some((p) => p.spec?.nodeName === n.metadata.name)) this.newPod(ds, template, { labels: { "controller-revision-hash": hash }, nodeName: n.metadata.name });
    }
    if (ds.spec!.updateStrategy?.type === "OnDelete") return;
    const unavailable = nodes.filter((n) => !live.some((p) => p.spec?.nodeName === n.metadata.name && isPodReady(p))).length;
    let budget = maxUnavailable(ds.spec!.updateStrategy?.rollingUpdate?.maxUnavailable, nodes.length) - unavailable;
    for (const p of live) {
      if (p.metadata.labels?.["controller-revision-hash"] === hash) continue;
      // As the DaemonSet controller: an old pod that is not available anyway is replaced at once, outside the
      // budget (else one broken rollout could never be rolled forward).
      if (!isPodReady(p)) {
        this.deletePod(ds, p);
        continue;
      }
      if (budget <= 0) continue;
      this.deletePod(ds, p);
      budget--;
    }
  }

  private daemonSetStatus(ds: Obj): void {
    const hash = templateHash(ds.spec!.template);
    const nodes = this.hooks.nodes().filter((n) => this.eligible(n, ds.spec!.template.spec ?? {}));
    const names = new Set(nodes.map((n) => n.metadata.name));
    const pods = this.ownedPods(ds).filter(active);
    const scheduled = pods.filter((p) => names.has(p.spec?.nodeName));
    const ready = scheduled.filter(isPodReady).length;
    this.writeStatus(ds, {
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

  // The scheduler: pods without a node go to an eligible node, spreading by preferred anti-affinity, then pod count.
  private schedule(): void {
    const pods = this.store.list<Obj>(POD).items;
    const nodes = this.hooks.nodes().filter((n) => !n.spec?.unschedulable);
    for (const pod of pods) {
      if (pod.spec?.nodeName || !active(pod) || (pod.spec?.schedulerName && pod.spec.schedulerName !== "default-scheduler")) continue;
      const candidates = nodes.filter((n) => this.eligible(n, pod.spec ?? {}));
      if (!candidates.length) {
        if (!(pod.status?.conditions as { type: string; reason?: string }[] | undefined)?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable")) {
          const message = `0/${nodes.length} nodes are available: ${nodes.length} node(s) didn't match Pod's node affinity/selector.`;
          this.store.updateStatus({ ...pod, status: { ...(pod.status ?? {}), phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message, lastProbeTime: null, lastTransitionTime: kubeTime() }] } }, { fieldManager: "default-scheduler" });
          this.hooks.event(pod, "Warning", "FailedScheduling", message);
        }
        continue;
      }
      const terms: { weight: number; podAffinityTerm: { labelSelector?: LabelSelector; topologyKey: string } }[] = pod.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
      const score = (n: Obj) => {
        const here = pods.filter((p) => p.spec?.nodeName === n.metadata.name && active(p) && p.metadata.namespace === pod.metadata.namespace);
        const penalty = terms.reduce((sum, t) => sum + (here.some((p) => t.podAffinityTerm.labelSelector && matchesLabelSelector(t.podAffinityTerm.labelSelector, p.metadata.labels ?? {})) ? t.weight : 0), 0);
        return penalty * 1000 + pods.filter((p) => p.spec?.nodeName === n.metadata.name && active(p)).length;
      };
      const node = [...candidates].sort((a, b) => score(a) - score(b))[0];
      this.store.update({ ...pod, spec: { ...pod.spec, nodeName: node.metadata.name } }, { fieldManager: "default-scheduler" });
      pod.spec = { ...pod.spec, nodeName: node.metadata.name };
      this.hooks.event(pod, "Normal", "Scheduled", `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node.metadata.name}`);
    }
  }
}

/** A Deployment's maxSurge (rounded up) and maxUnavailable (rounded down), 25% each by default; never both 0. */
function rollingBounds(rolling: { maxSurge?: number | string; maxUnavailable?: number | string } | undefined, replicas: number): { surge: number; unavailable: number } {
  const resolve = (value: number | string | undefined, roundUp: boolean) => {
    const v = value ?? "25%";
    if (typeof v === "number") return v;
    const pct = /^(\d+)%$/.exec(v);
    if (!pct) return Number(v) || 0;
    const exact = (replicas * Number(pct[1])) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  };
  const surge = resolve(rolling?.maxSurge, true);
  const unavailable = resolve(rolling?.maxUnavailable, false);
  return { surge, unavailable: surge === 0 && unavailable === 0 ? 1 : unavailable };
}

function maxUnavailable(value: number | string | undefined, total: number): number {
  if (value === undefined) return 1;
  if (typeof value === "number") return Math.max(1, value);
  const pct = /^(\d+)%$/.exec(value);
  return Math.max(1, pct ? Math.floor((total * Number(pct[1])) / 100) : Number(value) || 1);
}
