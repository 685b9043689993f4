import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { sandboxLayout } from "../layout.js";
import { ControllerManager, Errors, isKubeStatus, kubeTime, type KubeObject, type KubeStore, type NodeObject } from "../kube/index.js";
import { followLog, readLog, type LogOptions } from "./logs.js";
import { startMetadataAddress, type MetadataAddress } from "./metadata-address.js";
import { resetNatTable } from "./netfilter.js";
import type { NodeRuntime, Pod } from "./pod.js";
import { PodWorker } from "./pod-worker.js";

/**
 * The sandbox's nodes: the controllers (kube/controllers) turn workloads into pods, the scheduler places them, and
 * each node runs its pods of podid's images as local processes with a pod IP of their own (127.<net>.<node + 1>.<n>).
 */

export interface KubeletNode {
  name: string;
  /** The node's InternalIP (a loopback address in the sandbox): host-network pods' IP. */
  hostIP: string;
  /** The node's IMDS endpoint. */
  imds: string;
}

export interface StartKubeletOptions {
  store: KubeStore;
  /** Sandbox dir: pods' files under <dir>/pods, nodes' hostPath files under <dir>/nodes/<node>. */
  dir: string;
  nodes: KubeletNode[];
  kube: { server: string; port: number; caCertPem: string; caCertPath: string };
  cloudProfilePath: string;
  /** Second octet of the sandbox's loopback network: node k's pods get 127.<podNetwork>.<k + 1>.<n>. */
  podNetwork: number;
  /** Crash-loop back-off (default 10s doubling to 5 min, as the kubelet). */
  backoff?: { initialMs: number; maxMs: number };
  /** The sandbox clock: projected tokens are refreshed on its time, and at once when it is advanced. Default: real time. */
  clock?: { now(): number; onAdvance(listener: () => void): () => void };
  log?: (line: string) => void;
}

export interface PodLogRequest extends LogOptions {
  container?: string;
}

export interface Kubelet {
  /** `GET .../pods/{name}/log`: the text, or a stream when following. Throws KubeError as kube-apiserver answers. */
  podLogs(namespace: string, name: string, request: PodLogRequest, signal: AbortSignal): string | Readable;
  close(): Promise<void>;
}

const POD = { apiVersion: "v1", kind: "Pod" };
const WATCHED = [
  POD,
  { apiVersion: "v1", kind: "Node" },
  { apiVersion: "v1", kind: "ServiceAccount" },
  { apiVersion: "apps/v1", kind: "ReplicaSet" },
  { apiVersion: "apps/v1", kind: "Deployment" },
  { apiVersion: "apps/v1", kind: "DaemonSet" },
  { apiVersion: "apps/v1", kind: "StatefulSet" },
  { apiVersion: "batch/v1", kind: "Job" },
  { apiVersion: "batch/v1", kind: "CronJob" },
];
const SHUTDOWN_GRACE_SECONDS = 5;
/** How often the kubelet looks for projected tokens due for refresh (its volume manager resyncs about every minute). */
const TOKEN_CHECK_MS = 10_000;

function cliPaths() {
  const here = fileURLToPath(new URL(".", import.meta.url));
  return {
    execPath: process.execPath,
    bin: join(here, "..", "..", "..", "bin", "podid.js"),
    preload: new URL("./pod-network.js", import.meta.url).href,
  };
}

/** Where a node's hostPath volumes live: <dir>/nodes/<node>/etc/kubernetes/azure.json is the node's azure.json. */
export function nodeRoot(dir: string, node: string): string {
  return join(sandboxLayout(dir).nodes, node);
}

export async function startKubelet(options: StartKubeletOptions): Promise<Kubelet> {
  const { store } = options;
  const log = options.log ?? (() => {});
  const podsDir = sandboxLayout(options.dir).pods;
  mkdirSync(podsDir, { recursive: true, mode: 0o700 });
  const cli = cliPaths();
  const runtimes = new Map<string, NodeRuntime & { index: number }>();
  const metadata: MetadataAddress[] = [];
  for (const [index, n] of options.nodes.entries()) {
    // The node boots: its nat table is empty until something (NMI) installs rules.
    const natTable = join(sandboxLayout(options.dir).netfilter, n.name, "nat.json");
    resetNatTable(natTable);
    const address = await startMetadataAddress({ hostIP: n.hostIP, imds: n.imds, natTable });
    metadata.push(address);
    const root = nodeRoot(options.dir, n.name);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    runtimes.set(n.name, { name: n.name, hostIP: n.hostIP, imds: n.imds, metadata: address.url, natTable, root, index });
  }
  const workers = new Map<string, PodWorker>();
  /** Workers stopping: their pod address stays taken until their processes are gone, as a CNI plugin frees it. */
  const retiring = new Set<PodWorker>();
  const now = () => options.clock?.now() ?? Date.now();

  const event = (object: KubeObject, type: "Normal" | "Warning", reason: string, message: string, component = "kubelet", fieldPath?: string) => {
    const time = kubeTime();
    try {
      store.create({
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `${object.metadata.name}.${randomBytes(8).toString("hex")}`, namespace: object.metadata.namespace ?? "default" },
        involvedObject: { apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name, uid: object.metadata.uid, ...(fieldPath ? { fieldPath } : {}) },
        reason,
        message,
        type,
        source: { component },
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
        reportingComponent: component,
        reportingInstance: "",
      });
    } catch {
      // The namespace is going away: the event has nowhere to live.
    }
  };

  const data = (kind: "ConfigMap" | "Secret", namespace: string, name: string): Record<string, string> | undefined => {
    const o = store.get<KubeObject & { data?: Record<string, string> }>({ apiVersion: "v1", kind, namespace, name });
    if (!o) return undefined;
    if (kind === "ConfigMap") return o.data ?? {};
    return Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
  };

  const allocate = (node: NodeRuntime & { index: number }, pod: Pod): string => {
    if (pod.spec.hostNetwork) return node.hostIP;
    const used = new Set([...workers.values(), ...retiring].map((w) => w.podIP));
    for (let n = 2; n < 255; n++) {
      const ip = `127.${options.podNetwork}.${node.index + 1}.${n}`;
      if (!used.has(ip)) return ip;
    }
    throw new Error(`node ${node.name} has no pod address left`);
  };

  const startWorker = (pod: Pod, node: NodeRuntime & { index: number }) => {
    const ref = { ...POD, namespace: pod.metadata.namespace, name: pod.metadata.name ?? "" };
    const worker = new PodWorker(
      {
        node,
        podsDir,
        kube: options.kube,
        cloudProfilePath: options.cloudProfilePath,
        cli,
        backoff: options.backoff ?? { initialMs: 10_000, maxMs: 300_000 },
        tokenFor: (ns, sa) => store.tokenForServiceAccount(ns, sa),
        requestToken: (ns, sa, spec) => store.requestToken(ns, sa, spec),
        now,
        data,
        readPod: () => store.get<Pod>(ref),
        writeStatus: (live, status) => {
          try {
            store.updateStatus({ ...live, status }, { fieldManager: "kubelet" });
          } catch (err) {
            if (!isKubeStatus(err, 404)) log(`kubelet: status of pod ${ref.namespace}/${ref.name}: ${(err as Error).message}`);
          }
        },
        event: (type, reason, message, container) => event(pod, type, reason, message, "kubelet", container ? `spec.containers{${container}}` : undefined),
      },
      pod,
      allocate(node, pod),
    );
    workers.set(pod.metadata.uid ?? "", worker);
    log(`kubelet: pod ${ref.namespace}/${ref.name} started on ${node.name} (${worker.podIP})`);
  };

  const retire = (uid: string, worker: PodWorker, graceSeconds?: number): Promise<void> => {
    workers.delete(uid);
    retiring.add(worker);
    return worker.stop(graceSeconds).finally(() => retiring.delete(worker));
  };

  /**
   * Pods being deleted gracefully, by uid: their containers are stopping, then the pod is deleted for good. A uid
   * stays here until the pod is gone from the API (finalizers may hold it), so it is finished once.
   */
  const terminating = new Set<string>();
  const terminate = (pod: Pod) => {
    const uid = pod.metadata.uid ?? "";
    if (terminating.has(uid)) return;
    terminating.add(uid);
    const worker = workers.get(uid);
    const grace = (pod.metadata.deletionGracePeriodSeconds as number | undefined) ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    void (worker ? retire(uid, worker, grace) : Promise.resolve()).then(() => {
      try {
        store.delete({ ...POD, namespace: pod.metadata.namespace, name: pod.metadata.name ?? "" }, { gracePeriodSeconds: 0, preconditions: { uid } });
        log(`kubelet: pod ${pod.metadata.namespace}/${pod.metadata.name} terminated and deleted`);
      } catch (err) {
        // Gone already (forced), or a newer pod of that name: nothing of ours is left to delete.
        const code = (err as { code?: number }).code;
        if (code !== 404 && code !== 409) log(`kubelet: deleting pod ${pod.metadata.namespace}/${pod.metadata.name}: ${(err as Error).message}`);
      }
    });
  };

  const syncPods = () => {
    const pods = store.list<Pod>(POD).items;
    const seen = new Set<string>();
    for (const pod of pods) {
      const node = runtimes.get(pod.spec?.nodeName ?? "");
      if (!node) continue;
      const uid = pod.metadata.uid ?? "";
      seen.add(uid);
      if (pod.metadata.deletionTimestamp) {
        terminate(pod);
        continue;
      }
      const worker = workers.get(uid);
      if (worker) worker.update(pod);
      else startWorker(pod, node);
    }
    // Gone from the API without a graceful deletion (forced, or its namespace went): stopped now.
    for (const [uid, worker] of workers) if (!seen.has(uid)) void retire(uid, worker);
    for (const uid of terminating) if (!seen.has(uid)) terminating.delete(uid);
  };

  const controllers = new ControllerManager({
    store,
    event: (object, type, reason, message) => event(object, type, reason, message, object.kind === "Pod" ? "default-scheduler" : "kube-controller-manager"),
    nodes: () => store.list<NodeObject>({ apiVersion: "v1", kind: "Node" }).items.filter((n) => runtimes.has(n.metadata.name ?? "")),
    now,
  });

  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const reconcile = () => {
    timer = undefined;
    if (closed) return;
    try {
      controllers.reconcile();
      syncPods();
    } catch (err) {
      log(`kubelet: reconcile failed: ${(err as Error).stack ?? err}`);
      schedule(1000);
    }
  };
  const schedule = (delay = 20) => {
    if (!timer && !closed) timer = setTimeout(reconcile, delay);
  };
  const stops = WATCHED.map((kind) => store.watch(kind, { resourceVersion: store.resourceVersion }, () => schedule()));
  // Pods can only become ready by probes; owners' status follows on the next reconcile.
  const resync = setInterval(() => schedule(), 5000);
  const refreshTokens = () => {
    for (const worker of workers.values()) void worker.refreshProjectedTokens();
  };
  const tokenTimer = setInterval(refreshTokens, TOKEN_CHECK_MS);
  // A moved clock may make tokens due and CronJob ticks pass.
  const stopClockWatch = options.clock?.onAdvance(() => {
    refreshTokens();
    schedule();
  });
  reconcile();

  const findWorker = (namespace: string, name: string) => {
    const pod = store.get<Pod>({ ...POD, namespace, name });
    if (!pod) throw Errors.notFound({ group: "", resource: "pods" }, name);
    return { pod, worker: workers.get(pod.metadata.uid ?? "") };
  };

  return {
    podLogs(namespace, name, request, signal) {
      const { pod, worker } = findWorker(namespace, name);
      const names = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.name);
      const container = request.container ?? (pod.spec.containers.length === 1 ? pod.spec.containers[0].name : undefined);
      if (!container) {
        const inits = (pod.spec.initContainers ?? []).map((c) => c.name);
        const initPart = inits.length ? ` or one of the init containers: [${inits.join(" ")}]` : "";
        throw Errors.badRequest(`a container name must be specified for pod ${name}, choose one of: [${pod.spec.containers.map((c) => c.name).join(" ")}]${initPart}`);
      }
      if (!names.includes(container)) throw Errors.badRequest(`container ${container} is not valid for pod ${name}`);
      if (!worker) throw Errors.badRequest(`container "${container}" in pod "${name}" is waiting to start: ${pod.spec.nodeName ? "ContainerCreating" : "pod is not scheduled"}`);
      const waiting = worker.waitingReason(container);
      if (waiting) throw Errors.badRequest(`container "${container}" in pod "${name}" is waiting to start: ${waiting}`);
      const path = worker.logPath(container, request.previous ?? false);
      if (!path) throw Errors.badRequest(`previous terminated container "${container}" in pod "${name}" not found`);
      if (!request.follow || request.previous) return readLog(path, request);
      return followLog(path, request, () => worker.isRunning(container) && workers.get(worker.uid) === worker, signal);
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      clearInterval(resync);
      clearInterval(tokenTimer);
      stopClockWatch?.();
      for (const stop of stops) stop();
      await Promise.all([...[...workers.values()].map((w) => w.stop(SHUTDOWN_GRACE_SECONDS)), ...[...retiring].map((w) => w.stop(SHUTDOWN_GRACE_SECONDS))]);
      workers.clear();
      await Promise.all(metadata.map((m) => m.close()));
    },
  };
}
