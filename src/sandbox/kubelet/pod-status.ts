import type { ContainerSpec, Pod } from "./pod.js";

/**
 * A pod's status as the kubelet reports it (its phase, conditions and container statuses), computed from what the
 * supervisor knows of each container: a pure function, so that what the API shows is a function of the facts.
 */

export type Terminated = { exitCode: number; signal?: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID: string };
export type ContainerState = { waiting: { reason: string; message?: string } } | { running: { startedAt: string } } | { terminated: Terminated };

/** What the status needs to know of one container. */
export interface ContainerView {
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
}

export interface PodFacts {
  pod: Pod;
  inits: ContainerView[];
  containers: ContainerView[];
  hostIP: string;
  podIP: string;
  startTime: string;
  /** The conditions reported before: a condition keeps its lastTransitionTime while its status stays. */
  previous?: { type: string; status: string; lastTransitionTime?: string }[];
  /** The time of this report (kubeTime). */
  now: string;
}

function succeeded(r: ContainerView): boolean {
  return "terminated" in r.state && r.state.terminated.exitCode === 0;
}

/** All init containers have completed successfully. */
export function initialized(inits: ContainerView[]): boolean {
  return inits.every(succeeded);
}

export function podPhase(inits: ContainerView[], containers: ContainerView[]): string {
  if (inits.some((r) => r.finished && "terminated" in r.state && r.state.terminated.exitCode !== 0)) return "Failed";
  if (!initialized(inits)) return "Pending";
  if (containers.every((r) => r.finished && "terminated" in r.state)) return containers.every(succeeded) ? "Succeeded" : "Failed";
  return containers.every((r) => r.everStarted) ? "Running" : "Pending";
}

function qosClass(containers: ContainerSpec[]): string {
  const any = containers.some((c) => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length);
  if (!any) return "BestEffort";
  const guaranteed = containers.every((c) => ["cpu", "memory"].every((r) => c.resources?.limits?.[r] && (c.resources?.requests?.[r] ?? c.resources.limits[r]) === c.resources.limits[r]));
  return guaranteed ? "Guaranteed" : "Burstable";
}

function containerStatus(r: ContainerView): Record<string, unknown> {
  return {
    name: r.spec.name,
    image: r.spec.image,
    imageID: r.everStarted ? `${r.spec.image.split(":")[0]}@sha256:${"0".repeat(64)}` : "",
    ...(r.containerID ? { containerID: r.containerID } : {}),
    ready: r.ready,
    started: r.started,
    restartCount: r.restartCount,
    state: r.state,
    lastState: r.lastState ?? {},
  };
}

export function podStatus(facts: PodFacts): Record<string, unknown> {
  const { inits, containers } = facts;
  const condition = (type: string, ok: boolean, why?: { reason: string; message: string }) => {
    const status = ok ? "True" : "False";
    const prior = facts.previous?.find((c) => c.type === type);
    const lastTransitionTime = prior && prior.status === status ? prior.lastTransitionTime : facts.now;
    return { type, status, lastProbeTime: null, lastTransitionTime, ...(ok || !why ? {} : why) };
  };
  const ready = containers.every((r) => r.ready);
  const unready = { reason: "ContainersNotReady", message: `containers with unready status: [${containers.filter((r) => !r.ready).map((r) => r.spec.name).join(" ")}]` };
  const init = initialized(inits);
  const pending = { reason: "ContainersNotInitialized", message: `containers with incomplete status: [${inits.filter((r) => !succeeded(r)).map((r) => r.spec.name).join(" ")}]` };
  return {
    phase: podPhase(inits, containers),
    conditions: [
      condition("PodReadyToStartContainers", true),
      condition("Initialized", init, pending),
      condition("Ready", ready, unready),
      condition("ContainersReady", ready, unready),
      condition("PodScheduled", true),
    ],
    hostIP: facts.hostIP,
    hostIPs: [{ ip: facts.hostIP }],
    podIP: facts.podIP,
    podIPs: [{ ip: facts.podIP }],
    startTime: facts.startTime,
    ...(inits.length ? { initContainerStatuses: inits.map(containerStatus) } : {}),
    containerStatuses: containers.map(containerStatus),
    qosClass: qosClass(facts.pod.spec.containers),
  };
}
