import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { kubeTime } from "../kube/index.js";
import { DEFAULT_PROXY_PORT, PROXY_UID } from "../kube/admission/workload-identity-webhook.js";
import { containerConfig, type ContainerConfig } from "./container-config.js";
import { containerEnv, fieldValue } from "./env.js";
import { isMetadataProxyInit, launchOf } from "./images.js";
import { LogWriter, runLogPath } from "./logs.js";
import { iptablesBinDir, mayChangeNetfilter, resetNatTable } from "./netfilter.js";
import { prepareVolumes, writeServiceAccountFiles } from "./pod-files.js";
import type { ContainerSpec, NodeRuntime, Pod } from "./pod.js";
import { podStatus, type ContainerView, type Terminated } from "./pod-status.js";
import { ProjectedTokens, type ServiceAccountTokenProjection } from "./projected-tokens.js";
import { Prober } from "./probes.js";

/**
 * One pod on one sandbox node, supervised: its volumes, then its init containers in order, then its containers as
 * child processes (postStart hooks in order), probes, restarts with back-off, stopping with a grace period. What it
 * knows of the containers is reported through the pure podStatus() (pod-status.ts); how each starts is
 * containerConfig() (container-config.ts).
 */

export interface WorkerDeps {
  node: NodeRuntime;
  podsDir: string;
  kube: { server: string; port: number; caCertPem: string; caCertPath: string };
  cloudProfilePath: string;
  /** How a container of podid's images is started: `node [--import preload] bin/podid.js ...`. */
  cli: { execPath: string; bin: string; preload: string };
  backoff: { initialMs: number; maxMs: number };
  tokenFor(namespace: string, serviceAccount: string): string;
  /** TokenRequest for a projected token bound to this pod (its status). */
  requestToken(namespace: string, serviceAccount: string, spec: { audiences?: string[]; expirationSeconds?: number; boundObjectRef: { kind: "Pod"; apiVersion: "v1"; name: string; uid: string } }): Promise<{ token: string; expirationTimestamp: string }>;
  /** The sandbox clock (projected tokens' refresh). */
  now(): number;
  data(kind: "ConfigMap" | "Secret", namespace: string, name: string): Record<string, string> | undefined;
  /** Reads the live pod (undefined once deleted) and writes its status. */
  readPod(): Pod | undefined;
  writeStatus(pod: Pod, status: Record<string, unknown>): void;
  event(type: "Normal" | "Warning", reason: string, message: string, container?: string): void;
}


/** A container's state (what the status shows) and what the supervisor keeps to run it. */
interface ContainerRun extends ContainerView {
  /** An init container: runs to completion, in order, before the pod's containers start. */
  init: boolean;
  proc?: ChildProcess;
  startedAtMs?: number;
  probers: Prober[];
  timer?: NodeJS.Timeout;
  backoffMs: number;
}

const STABLE_RUN_MS = 10 * 60 * 1000;
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Where a pod's metadata traffic goes after proxy-init ran: the proxy's port, except from the proxy's uid. */
interface MetadataRedirect {
  port: number;
  exemptUid: number;
}

export class PodWorker {
  private readonly containers = new Map<string, ContainerRun>();
  private readonly inits: ContainerRun[] = [];
  private readonly tokens: ProjectedTokens;
  private metadataRedirect?: MetadataRedirect;
  /** The conditions last reported (their transition times carry over). */
  private conditions?: { type: string; status: string; lastTransitionTime?: string }[];
  private readonly podDir: string;
  /** The pod's own network namespace's nat table (nothing routes by it: only a host-network pod's rules act). */
  private readonly podNatTable: string;
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
    this.podNatTable = join(this.podDir, "netfilter", "nat.json");
    if (!pod.spec.hostNetwork) resetNatTable(this.podNatTable);
    const newRun = (spec: ContainerSpec, init: boolean, reason: string): ContainerRun =>
      ({ spec, init, restartCount: 0, state: { waiting: { reason } }, ready: false, started: false, everStarted: false, finished: false, probers: [], backoffMs: 0 });
    const initializing = (pod.spec.initContainers ?? []).length > 0;
    for (const spec of pod.spec.initContainers ?? []) this.inits.push(newRun(spec, true, "PodInitializing"));
    for (const spec of pod.spec.containers) this.containers.set(spec.name, newRun(spec, false, initializing ? "PodInitializing" : "ContainerCreating"));
    this.tokens = new ProjectedTokens((projection) => this.requestProjectedToken(projection), deps.now);
    this.scheduleStatus();
    void this.begin();
  }

  /** Mounts the volumes (projected tokens need the API server), then runs the init containers, then the containers. */
  private async begin(): Promise<void> {
    if (this.stopping) return;
    const ns = this.pod.metadata.namespace ?? "default";
    try {
      this.volumePaths ??= await prepareVolumes(this.pod.spec.volumes ?? [], this.podDir, this.deps.node.root, ns, {
        data: this.deps.data,
        field: (path) => fieldValue(path, this.facts()),
        tokens: this.tokens,
      });
    } catch (err) {
      const message = `MountVolume.SetUp failed: ${(err as Error).message}`;
      this.deps.event("Warning", "FailedMount", message);
      setTimeout(() => void this.begin(), 2000).unref();
      return;
    }
    this.nextInit();
  }

  private requestProjectedToken(projection: ServiceAccountTokenProjection) {
    const m = this.pod.metadata;
    return this.deps.requestToken(m.namespace ?? "default", this.pod.spec.serviceAccountName ?? "default", {
      ...(projection.audience ? { audiences: [projection.audience] } : {}),
      expirationSeconds: projection.expirationSeconds ?? 3600,
      boundObjectRef: { kind: "Pod", apiVersion: "v1", name: m.name ?? "", uid: m.uid ?? "" },
    });
  }

  /** Rewrites the pod's projected tokens that are due (the kubelet calls this on a timer and when the clock moves). */
  async refreshProjectedTokens(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.tokens.refresh();
    } catch (err) {
      this.deps.event("Warning", "FailedMount", `MountVolume.SetUp failed: refreshing a service account token: ${(err as Error).message}`);
    }
  }

  /** The next init container that has not completed, or, when all have, every container. */
  private nextInit(): void {
    if (this.stopping) return;
    const pending = this.inits.find((r) => !("terminated" in r.state && r.state.terminated.exitCode === 0));
    if (!pending) {
      void this.startContainers();
      return;
    }
    if (!pending.finished) void this.start(pending);
  }

  /**
   * The pod's containers in order, as the kubelet starts them: each container's postStart hook runs to its end
   * before the next container starts (what lets the workload identity proxy be ready before the application).
   */
  private async startContainers(): Promise<void> {
    for (const run of this.containers.values()) await this.start(run);
  }

  /** A postStart exec hook of podid's CLI, in the container's environment; a failed hook restarts the container. */
  private async postStart(run: ContainerRun, proc: ChildProcess, env: Record<string, string>): Promise<void> {
    const command = run.spec.lifecycle?.postStart?.exec?.command;
    if (!command?.length) return;
    const launch = launchOf(run.spec.image, command, undefined);
    const code = launch.ok
      ? await new Promise<number>((resolve) => {
          const { execPath, bin, preload } = this.deps.cli;
          const hook = spawn(execPath, ["--import", preload, bin, ...launch.cliArgs], { cwd: this.podDir, env, stdio: "ignore" });
          hook.once("error", () => resolve(126));
          hook.once("close", (c) => resolve(c ?? 137));
        })
      : 126;
    if (code === 0 || run.proc !== proc) return;
    this.deps.event("Warning", "FailedPostStartHook", `PostStartHook failed: exit code ${code}${launch.ok ? "" : `: ${launch.message}`}`, run.spec.name);
    proc.kill("SIGTERM");
  }

  /** proxy-init's effect: the pod's metadata traffic now goes to the proxy sidecar's port (see images.ts). */
  private applyProxyInit(run: ContainerRun): void {
    const env = containerEnv(run.spec, this.facts(), this.deps.data);
    const port = Number(env.PROXY_PORT ?? DEFAULT_PROXY_PORT);
    const exemptUid = Number(env.PROXY_UID ?? PROXY_UID);
    this.metadataRedirect = { port, exemptUid };
    const writer = new LogWriter(runLogPath(join(this.podDir, "containers", run.spec.name), run.restartCount));
    writer.write("stdout", `redirecting this pod's tcp to ${env.METADATA_IP ?? "169.254.169.254"}:${env.METADATA_PORT ?? 80} to port ${port}, except from uid ${exemptUid}\n`);
    writer.end();
    const at = kubeTime();
    run.everStarted = true;
    run.finished = true;
    run.containerID = `containerd://${randomBytes(32).toString("hex")}`;
    run.state = { terminated: { exitCode: 0, reason: "Completed", startedAt: at, finishedAt: at, containerID: run.containerID } };
    this.deps.event("Normal", "Started", `Started container ${run.spec.name}`, run.spec.name);
    this.scheduleStatus();
    this.nextInit();
  }

  /** A container's runs, init containers included. */
  private runOf(container: string): ContainerRun | undefined {
    return this.containers.get(container) ?? this.inits.find((r) => r.spec.name === container);
  }

  /** What a container reaches as 169.254.169.254. */
  private metadataFor(run: ContainerRun): string {
    if (this.pod.spec.hostNetwork) return this.deps.node.imds;
    const redirect = this.metadataRedirect;
    const uid = run.spec.securityContext?.runAsUser ?? this.pod.spec.securityContext?.runAsUser;
    if (redirect && uid !== redirect.exemptUid) return `http://${this.podIP}:${redirect.port}`;
    return this.deps.node.metadata;
  }

  get uid(): string {
    return this.pod.metadata.uid ?? "";
  }

  /** The container's log file of the current run, or of the one before (`previous`). */
  logPath(container: string, previous: boolean): string | undefined {
    const run = this.runOf(container);
    if (!run) return undefined;
    // The latest run is the one started last: during a back-off, the run that just ended.
    const latest = run.proc ? run.restartCount : run.restartCount - (run.everStarted && !run.finished ? 1 : 0);
    const n = previous ? latest - 1 : latest;
    return n < 0 ? undefined : runLogPath(join(this.podDir, "containers", container), n);
  }

  containerNames(): string[] {
    return [...this.inits.map((r) => r.spec.name), ...this.containers.keys()];
  }

  /** Why a container has no log yet (it never started), if so. */
  waitingReason(container: string): string | undefined {
    const run = this.runOf(container);
    if (!run || run.everStarted) return undefined;
    return "waiting" in run.state ? run.state.waiting.reason : undefined;
  }

  isRunning(container: string): boolean {
    return !!this.runOf(container)?.proc;
  }

  update(pod: Pod): void {
    this.pod = pod;
  }

  /** Stops every container: SIGTERM, then SIGKILL after the grace period. */
  async stop(graceSeconds = this.pod.spec.terminationGracePeriodSeconds ?? 30): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.inits, ...this.containers.values()].map((run) => this.kill(run, graceSeconds)));
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

  /** The pod's ServiceAccount token and kubeconfig, written once; a reason to wait when its ServiceAccount is missing. */
  private mountServiceAccount(): { reason: string; message: string; retry: boolean } | undefined {
    const spec = this.pod.spec;
    if (spec.automountServiceAccountToken === false || this.serviceAccount) return undefined;
    const ns = this.pod.metadata.namespace ?? "default";
    const sa = spec.serviceAccountName ?? "default";
    let token: string;
    try {
      token = this.deps.tokenFor(ns, sa);
    } catch {
      return { reason: "CreateContainerConfigError", message: `serviceaccount "${sa}" not found in namespace ${ns}`, retry: true };
    }
    this.serviceAccount = writeServiceAccountFiles(this.podDir, { namespace: ns, token, caCertPem: this.deps.kube.caCertPem, server: this.deps.kube.server, serviceAccount: sa });
    return undefined;
  }

  private prepare(run: ContainerRun): ContainerConfig {
    const launch = launchOf(run.spec.image, run.spec.command, run.spec.args);
    if (!launch.ok) return { reason: launch.reason, message: launch.message, retry: false };
    const waiting = this.mountServiceAccount();
    if (waiting) return waiting;
    return containerConfig({
      container: run.spec,
      cliArgs: launch.cliArgs,
      pod: this.pod,
      podIP: this.podIP,
      node: this.deps.node,
      kube: this.deps.kube,
      cloudProfilePath: this.deps.cloudProfilePath,
      serviceAccount: this.serviceAccount,
      volumePaths: this.volumePaths ?? new Map(),
      metadata: this.metadataFor(run),
      iptablesDir: iptablesBinDir(this.pod.spec.hostNetwork ? this.deps.node.natTable : this.podNatTable, mayChangeNetfilter(run.spec, this.pod)),
      data: this.deps.data,
    });
  }

  /** Starts a container's process; resolves once its postStart hook (if any) has run. */
  private async start(run: ContainerRun): Promise<void> {
    if (this.stopping || run.finished) return;
    if (run.init && isMetadataProxyInit(run.spec.image)) return this.applyProxyInit(run);
    const prepared = this.prepare(run);
    if (!("args" in prepared)) {
      run.state = { waiting: { reason: prepared.reason, message: prepared.message } };
      this.deps.event("Warning", prepared.reason === "ImageNotRunnable" ? "Failed" : prepared.reason, prepared.message, run.spec.name);
      if (prepared.retry) run.timer = setTimeout(() => void this.start(run), 2000);
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
    await this.postStart(run, proc, prepared.env);
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
    // An init container that succeeded is done; one that failed is retried unless the pod never restarts.
    const again = run.init ? exitCode !== 0 && policy !== "Never" : policy === "Always" || (policy === "OnFailure" && exitCode !== 0);
    const restart = !this.stopping && !run.finished && again;
    if (!restart) {
      run.finished = true;
      run.state = { terminated };
      this.scheduleStatus();
      if (run.init && exitCode === 0) this.nextInit();
      else if (run.init) for (const main of this.containers.values()) main.finished = true;
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
      run.timer = setTimeout(() => void this.start(run), delay);
      this.scheduleStatus();
    } else {
      void this.start(run);
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
      const status = podStatus({
        pod: this.pod,
        inits: this.inits,
        containers: [...this.containers.values()],
        hostIP: this.deps.node.hostIP,
        podIP: this.podIP,
        startTime: this.startTime,
        previous: this.conditions,
        now: kubeTime(),
      });
      this.conditions = status.conditions as { type: string; status: string; lastTransitionTime?: string }[];
      const text = JSON.stringify(status);
      if (text === this.lastStatus) return;
      this.lastStatus = text;
      this.deps.writeStatus(live, status);
    });
  }
}
