import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { kubeTime, type KubeObject } from "../kube/index.js";
import { containerEnv, EnvError, expand, type EnvFromSource, type EnvVar } from "./env.js";
import { launchOf } from "./images.js";
import { LogWriter, runLogPath } from "./logs.js";
import { mountTable, prepareVolumes, rewritePaths, writeServiceAccountFiles, type Volume, type VolumeMount } from "./pod-files.js";
import { Prober, type ContainerPort, type ProbeSpec } from "./probes.js";

/** One pod on one sandbox node: its containers as child processes, restarts with back-off, and a true status. */

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: ContainerPort[];
  readinessProbe?: ProbeSpec;
  livenessProbe?: ProbeSpec;
  startupProbe?: ProbeSpec;
  volumeMounts?: VolumeMount[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  restartPolicy?: "Always" | "OnFailure" | "Never";
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  containers: ContainerSpec[];
  volumes?: Volume[];
}

export type Pod = KubeObject & { spec: PodSpec; status?: Record<string, unknown> };

export interface NodeRuntime {
  name: string;
  hostIP: string;
  /** The node's IMDS (what host-network pods reach as 169.254.169.254). */
  imds: string;
  /** The node's 169.254.169.254 for pods on the pod network (see metadata-address.ts). */
  metadata: string;
  /** Where the node's hostPath volumes live. */
  root: string;
}

export interface WorkerDeps {
  node: NodeRuntime;
  podsDir: string;
  kube: { server: string; port: number; caCertPem: string; caCertPath: string };
  cloudProfilePath: string;
  /** How a container of podid's images is started: `node [--import preload] bin/podid.js ...`. */
  cli: { execPath: string; bin: string; preload: string };
  backoff: { initialMs: number; maxMs: number };
  tokenFor(namespace: string, serviceAccount: string): string;
  data(kind: "ConfigMap" | "Secret", namespace: string, name: string): Record<string, string> | undefined;
  /** Reads the live pod (undefined once deleted) and writes its status. */
  readPod(): Pod | undefined;
  writeStatus(pod: Pod, status: Record<string, unknown>): void;
  event(type: "Normal" | "Warning", reason: string, message: string, container?: string): void;
}

type Terminated = { exitCode: number; signal?: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID: string };
type ContainerState = { waiting: { reason: string; message?: string } } | { running: { startedAt: string } } | { terminated: Terminated };

interface ContainerRun {
  spec: ContainerSpec;
  restartCount: number;
  state: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  started: boolean;
  everStarted: boolean;
  /** No further start: the restart policy says so, or the pod is going away. */
  finished: boolean;
  containerID?: string;
  proc?: ChildProcess;
  startedAtMs?: number;
  probers: Prober[];
  timer?: NodeJS.Timeout;
  backoffMs: number;
}

const STABLE_RUN_MS = 10 * 60 * 1000;
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Environment every container gets from the node, before its own env: what in a cluster comes from the network and the mounts. */
function nodeEnvironment(deps: WorkerDeps, pod: Pod, podIP: string, kubeconfig: string | undefined): Record<string, string> {
  const spec = pod.spec;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOSTNAME: spec.hostNetwork ? deps.node.name : (pod.metadata.name ?? ""),
    KUBERNETES_SERVICE_HOST: "127.0.0.1",
    KUBERNETES_SERVICE_PORT: String(deps.kube.port),
    PODID_CLOUD: deps.cloudProfilePath,
    NODE_EXTRA_CA_CERTS: deps.kube.caCertPath,
    // The pod's 169.254.169.254: the node's IMDS on the host network, else what NMI's DNAT would reach.
    AZURE_POD_IDENTITY_AUTHORITY_HOST: spec.hostNetwork ? deps.node.imds : deps.node.metadata,
    // Something else (this kubelet) already sends pods' metadata traffic to NMI: nothing may touch the host's nat table.
    PODID_MANAGE_IPTABLES: "false",
    PODID_SANDBOX_POD_IP: podIP,
  };
  if (kubeconfig) env.KUBECONFIG = kubeconfig;
  for (const k of ["LANG", "TZ", "SYSTEMROOT"]) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

export class PodWorker {
  private readonly containers = new Map<string, ContainerRun>();
  private readonly conditions = new Map<string, { status: string; time: string }>();
  private readonly podDir: string;
  private readonly startTime = kubeTime();
  private stopping = false;
  private statusScheduled = false;
  private lastStatus = "";
  private serviceAccount?: { kubeconfig: string; dir: string };
  private volumePaths?: Map<string, string>;

  constructor(
    private readonly deps: WorkerDeps,
    private pod: Pod,
    readonly podIP: string,
  ) {
    const m = pod.metadata;
    this.podDir = join(deps.podsDir, `${m.namespace}_${m.name}_${m.uid}`);
    mkdirSync(this.podDir, { recursive: true, mode: 0o700 });
    for (const spec of pod.spec.containers) {
      this.containers.set(spec.name, { spec, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } }, ready: false, started: false, everStarted: false, finished: false, probers: [], backoffMs: 0 });
    }
    this.scheduleStatus();
    for (const run of this.containers.values()) this.start(run);
  }

  get uid(): string {
    return this.pod.metadata.uid ?? "";
  }

  /** The container's log file of the current run, or of the one before (`previous`). */
  logPath(container: string, previous: boolean): string | undefined {
    const run = this.containers.get(container);
    if (!run) return undefined;
    // The latest run is the one started last: during a back-off, the run that just ended.
    const latest = run.proc ? run.restartCount : run.restartCount - (run.everStarted && !run.finished ? 1 : 0);
    const n = previous ? latest - 1 : latest;
    return n < 0 ? undefined : runLogPath(join(this.podDir, "containers", container), n);
  }

  containerNames(): string[] {
    return [...this.containers.keys()];
  }

  /** Why a container has no log yet (it never started), if so. */
  waitingReason(container: string): string | undefined {
    const run = this.containers.get(container);
    if (!run || run.everStarted) return undefined;
    return "waiting" in run.state ? run.state.waiting.reason : undefined;
  }

  isRunning(container: string): boolean {
    return !!this.containers.get(container)?.proc;
  }

  update(pod: Pod): void {
    this.pod = pod;
  }

  /** Stops every container: SIGTERM, then SIGKILL after the grace period. */
  async stop(graceSeconds = this.pod.spec.terminationGracePeriodSeconds ?? 30): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.containers.values()].map((run) => this.kill(run, graceSeconds)));
  }

  private kill(run: ContainerRun, graceSeconds: number): Promise<void> {
    run.finished = true;
    if (run.timer) clearTimeout(run.timer);
    for (const p of run.probers) p.stop();
    const proc = run.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => proc.kill("SIGKILL"), graceSeconds * 1000);
      proc.once("exit", () => {
        clearTimeout(force);
        resolve();
      });
      proc.kill("SIGTERM");
    });
  }

  private facts() {
    return { pod: this.pod, podIP: this.podIP, hostIP: this.deps.node.hostIP };
  }

  private prepare(run: ContainerRun): { args: string[]; env: Record<string, string> } | { reason: string; message: string; retry: boolean } {
    const launch = launchOf(run.spec.image, run.spec.command, run.spec.args);
    if (!launch.ok) return { reason: launch.reason, message: launch.message, retry: false };
    const ns = this.pod.metadata.namespace ?? "default";
    const spec = this.pod.spec;
    if (spec.automountServiceAccountToken !== false && !this.serviceAccount) {
      const sa = spec.serviceAccountName ?? "default";
      let token: string;
      try {
        token = this.deps.tokenFor(ns, sa);
      } catch {
        return { reason: "CreateContainerConfigError", message: `serviceaccount "${sa}" not found in namespace ${ns}`, retry: true };
      }
      this.serviceAccount = writeServiceAccountFiles(this.podDir, { namespace: ns, token, caCertPem: this.deps.kube.caCertPem, server: this.deps.kube.server, serviceAccount: sa });
    }
    let vars: Record<string, string>;
    try {
      this.volumePaths ??= prepareVolumes(spec.volumes ?? [], this.podDir, this.deps.node.root, ns, this.deps.data);
      vars = containerEnv(run.spec, this.facts(), this.deps.data);
    } catch (err) {
      if (!(err instanceof EnvError)) throw err;
      return { reason: "CreateContainerConfigError", message: err.message, retry: true };
    }
    const mounts = mountTable(run.spec.volumeMounts ?? [], this.volumePaths, this.serviceAccount?.dir);
    for (const [k, v] of Object.entries(vars)) vars[k] = rewritePaths(v, mounts);
    const args = launch.cliArgs.map((a) => rewritePaths(expand(a, vars), mounts));
    return { args, env: { ...nodeEnvironment(this.deps, this.pod, this.podIP, this.serviceAccount?.kubeconfig), ...vars } };
  }

  private start(run: ContainerRun): void {
    if (this.stopping || run.finished) return;
    const prepared = this.prepare(run);
    if (!("args" in prepared)) {
      run.state = { waiting: { reason: prepared.reason, message: prepared.message } };
      this.deps.event("Warning", prepared.reason === "ImageNotRunnable" ? "Failed" : prepared.reason, prepared.message, run.spec.name);
      if (prepared.retry) run.timer = setTimeout(() => this.start(run), 2000);
      this.scheduleStatus();
      return;
    }
    const { execPath, bin, preload } = this.deps.cli;
    const writer = new LogWriter(runLogPath(join(this.podDir, "containers", run.spec.name), run.restartCount));
    const proc = spawn(execPath, ["--import", preload, bin, ...prepared.args], { cwd: this.podDir, env: prepared.env, stdio: ["ignore", "pipe", "pipe"] });
    run.proc = proc;
    run.containerID = `containerd://${randomBytes(32).toString("hex")}`;
    run.startedAtMs = Date.now();
    run.state = { running: { startedAt: kubeTime(run.startedAtMs) } };
    run.started = true;
    run.everStarted = true;
    run.ready = !run.spec.readinessProbe;
    proc.stdout!.on("data", (d: Buffer) => writer.write("stdout", d));
    proc.stderr!.on("data", (d: Buffer) => writer.write("stderr", d));
    proc.once("error", (err) => writer.write("stderr", `failed to start: ${err.message}\n`));
    proc.once("close", (code, signal) => {
      writer.end();
      this.exited(run, code, signal);
    });
    this.deps.event("Normal", "Started", `Started container ${run.spec.name}`, run.spec.name);
    const ports = run.spec.ports ?? [];
    if (run.spec.readinessProbe) {
      run.probers.push(new Prober(run.spec.readinessProbe, this.podIP, ports, false, (ok) => {
        run.ready = ok;
        this.scheduleStatus();
      }));
    }
    if (run.spec.livenessProbe) {
      run.probers.push(new Prober(run.spec.livenessProbe, this.podIP, ports, true, (ok) => {
        if (ok || run.proc !== proc) return;
        this.deps.event("Warning", "Unhealthy", `Liveness probe failed; container ${run.spec.name} will be restarted`, run.spec.name);
        proc.kill("SIGTERM");
        setTimeout(() => proc.kill("SIGKILL"), (this.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000).unref();
      }));
    }
    for (const p of run.probers) p.start();
    this.scheduleStatus();
  }

  private exited(run: ContainerRun, code: number | null, signal: NodeJS.Signals | null): void {
    for (const p of run.probers) p.stop();
    run.probers = [];
    run.proc = undefined;
    run.ready = false;
    run.started = false;
    const exitCode = code ?? 128 + (SIGNALS[signal ?? ""] ?? 0);
    const terminated: Terminated = {
      exitCode,
      ...(signal ? { signal: SIGNALS[signal] } : {}),
      reason: exitCode === 0 ? "Completed" : "Error",
      startedAt: kubeTime(run.startedAtMs),
      finishedAt: kubeTime(),
      containerID: run.containerID ?? "",
    };
    const policy = this.pod.spec.restartPolicy ?? "Always";
    const restart = !this.stopping && !run.finished && (policy === "Always" || (policy === "OnFailure" && exitCode !== 0));
    if (!restart) {
      run.finished = true;
      run.state = { terminated };
      this.scheduleStatus();
      return;
    }
    if (Date.now() - (run.startedAtMs ?? 0) > STABLE_RUN_MS) run.backoffMs = 0;
    const delay = run.backoffMs;
    run.backoffMs = Math.min(this.deps.backoff.maxMs, delay === 0 ? this.deps.backoff.initialMs : delay * 2);
    run.lastState = { terminated };
    run.restartCount++;
    if (delay > 0) {
      const message = `back-off ${Math.round(delay / 1000)}s restarting failed container=${run.spec.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.uid})`;
      run.state = { waiting: { reason: "CrashLoopBackOff", message } };
      this.deps.event("Warning", "BackOff", "Back-off restarting failed container", run.spec.name);
      run.timer = setTimeout(() => this.start(run), delay);
      this.scheduleStatus();
    } else {
      this.start(run);
    }
  }

  /** Coalesces status writes: one per turn of the event loop at most. */
  private scheduleStatus(): void {
    if (this.statusScheduled) return;
    this.statusScheduled = true;
    setImmediate(() => {
      this.statusScheduled = false;
      const live = this.deps.readPod();
      if (!live || live.metadata.uid !== this.uid) return;
      const status = this.status();
      const text = JSON.stringify(status);
      if (text === this.lastStatus) return;
      this.lastStatus = text;
      this.deps.writeStatus(live, status);
    });
  }

  private condition(type: string, ok: boolean): Record<string, unknown> {
    const status = ok ? "True" : "False";
    const prior = this.conditions.get(type);
    if (!prior || prior.status !== status) this.conditions.set(type, { status, time: kubeTime() });
    return { type, status, lastProbeTime: null, lastTransitionTime: this.conditions.get(type)!.time };
  }

  private phase(): string {
    const runs = [...this.containers.values()];
    if (runs.every((r) => r.finished && "terminated" in r.state)) {
      return runs.every((r) => "terminated" in r.state && r.state.terminated.exitCode === 0) ? "Succeeded" : "Failed";
    }
    return runs.every((r) => r.everStarted) ? "Running" : "Pending";
  }

  private status(): Record<string, unknown> {
    const runs = [...this.containers.values()];
    const ready = runs.every((r) => r.ready);
    const phase = this.phase();
    const containerStatuses = runs.map((r) => ({
      name: r.spec.name,
      image: r.spec.image,
      imageID: r.everStarted ? `${r.spec.image.split(":")[0]}@sha256:${"0".repeat(64)}` : "",
      ...(r.containerID ? { containerID: r.containerID } : {}),
      ready: r.ready,
      started: r.started,
      restartCount: r.restartCount,
      state: r.state,
      lastState: r.lastState ?? {},
    }));
    const unready = runs.filter((r) => !r.ready).map((r) => r.spec.name);
    const readyCondition = (type: string) => ({
      ...this.condition(type, ready),
      ...(ready ? {} : { reason: "ContainersNotReady", message: `containers with unready status: [${unready.join(" ")}]` }),
    });
    return {
      phase,
      conditions: [
        this.condition("PodReadyToStartContainers", true),
        this.condition("Initialized", true),
        readyCondition("Ready"),
        readyCondition("ContainersReady"),
        this.condition("PodScheduled", true),
      ],
      hostIP: this.deps.node.hostIP,
      hostIPs: [{ ip: this.deps.node.hostIP }],
      podIP: this.podIP,
      podIPs: [{ ip: this.podIP }],
      startTime: this.startTime,
      containerStatuses,
      qosClass: qosClass(this.pod.spec.containers),
    };
  }
}

function qosClass(containers: ContainerSpec[]): string {
  const any = containers.some((c) => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length);
  if (!any) return "BestEffort";
  const guaranteed = containers.every((c) => ["cpu", "memory"].every((r) => c.resources?.limits?.[r] && (c.resources?.requests?.[r] ?? c.resources.limits[r]) === c.resources.limits[r]));
  return guaranteed ? "Guaranteed" : "Burstable";
}
