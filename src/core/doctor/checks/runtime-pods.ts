import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import { MIC_FLAG_DEFAULTS, MicFlag } from "../../../aadpodidentity/contract/names.js";
import type { DoctorContext, Workload } from "../context.js";

/** Helpers the MIC/NMI checks (3, 4, 11, 12, 15, 20) share: readiness, container trouble, MIC's flags, events. */

export const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
export const workloadRef = (kind: string, w: Workload) => `${kind} ${w.metadata?.namespace}/${w.metadata?.name}`;
export const podName = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

/** A pod created this recently that is not ready yet, and not broken, is starting: it is given time. */
export const STARTING_GRACE_MS = 30_000;

/** Waiting reasons that mean the container cannot run (as kubectl shows them in STATUS). */
export const BROKEN_WAITING = new Set(["ImagePullBackOff", "ErrImagePull", "ImageNotRunnable", "InvalidImageName", "ErrImageNeverPull", "CrashLoopBackOff", "RunContainerError", "CreateContainerError", "CreateContainerConfigError"]);

/** Each container's waiting reason/message and restart count. */
export function containerTrouble(p: V1Pod): { container: string; image: string; reason?: string; message?: string; restarts: number; lastExit?: string }[] {
  return (p.status?.containerStatuses ?? []).map((s) => ({
    container: s.name,
    image: s.image,
    reason: s.state?.waiting?.reason,
    message: s.state?.waiting?.message,
    restarts: s.restartCount ?? 0,
    lastExit: s.lastState?.terminated ? `exit code ${s.lastState.terminated.exitCode}${s.lastState.terminated.reason ? ` (${s.lastState.terminated.reason})` : ""}` : undefined,
  }));
}

/** Created less than STARTING_GRACE_MS ago. */
export function isYoung(p: V1Pod, now = Date.now()): boolean {
  return now - new Date((p.metadata?.creationTimestamp as unknown as string | undefined) ?? 0).getTime() < STARTING_GRACE_MS;
}

/** Not ready yet, created less than STARTING_GRACE_MS ago, and no container in a broken state (a rollout under way). */
export function isStarting(p: V1Pod, now = Date.now()): boolean {
  return !isReady(p) && isYoung(p, now) && !containerTrouble(p).some((c) => c.reason && BROKEN_WAITING.has(c.reason));
}

/** Why a pod is not ready, in kubectl's words: a container's waiting reason, else its phase. */
export function notReadyReason(p: V1Pod): string {
  const waiting = containerTrouble(p).find((c) => c.reason);
  if (waiting) return `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
  const unscheduled = p.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
  if (unscheduled) return `${unscheduled.reason ?? "Unschedulable"}: ${unscheduled.message ?? ""}`.trim();
  if (p.status?.phase === "Running") return "Running, not Ready (its readiness probe has not passed)";
  return p.status?.phase ?? "Pending";
}

type Container = { command?: string[]; args?: string[] };

/** A flag's value (`--name=value` or `--name value`) from the first of the containers that sets it. */
function containerFlag(containers: readonly Container[] | undefined, name: string): string | undefined {
  for (const c of containers ?? []) {
    const args = [...(c.command ?? []), ...(c.args ?? [])];
    for (let i = 0; i < args.length; i++) {
      if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
      if (args[i] === `--${name}` && i + 1 < args.length) return args[i + 1];
    }
  }
  return undefined;
}

/** A flag of a workload's pod template. */
export const flagOf = (w: Workload, name: string): string | undefined => containerFlag(w.spec?.template?.spec?.containers, name);

/** A flag of a running pod. */
export const podFlag = (p: V1Pod, name: string): string | undefined => containerFlag(p.spec?.containers, name);

/** Runs upstream's aad-pod-identity image (installed with --runtime upstream) rather than podid's runtime. */
export function isUpstreamRuntime(w: Workload): boolean {
  return (w.spec?.template?.spec?.containers ?? []).some((c) => /aad-pod-identity\/(mic|nmi)(:|@|$)/.test(c.image ?? ""));
}

/** A namespace flag's value; the manifests pass `$(<VAR>)` set from the pod's own namespace, i.e. the workload's. */
export function namespaceFlagOf(w: Workload, name: string): string {
  const ns = flagOf(w, name) ?? "default";
  return /^\$\(.*\)$/.test(ns) ? (w.metadata?.namespace ?? "default") : ns;
}

/** MIC's leader Lease (namespace and name from its flags; `$(MIC_POD_NAMESPACE)` is its own namespace). */
export function leaseOf(mic: Workload): { namespace: string; name: string } {
  return { namespace: namespaceFlagOf(mic, MicFlag.leaderElectionNamespace), name: flagOf(mic, MicFlag.leaderElectionName) ?? MIC_FLAG_DEFAULTS.leaderElectionName };
}

export type KubeEvent = KubernetesObject & {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string | Date;
  eventTime?: string | Date;
  firstTimestamp?: string | Date;
  involvedObject?: { kind?: string; name?: string; namespace?: string; uid?: string };
};

export const eventTime = (e: KubeEvent) => new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? 0).getTime();

/** Events about one object (by kind and name, and uid when both carry one), newest first. */
export async function eventsAbout(ctx: DoctorContext, kind: string, namespace: string, name: string, uid?: string): Promise<KubeEvent[]> {
  const events = (await ctx.events(namespace)) as KubeEvent[];
  return events
    .filter((e) => e.involvedObject?.kind === kind && e.involvedObject.name === name && (!uid || !e.involvedObject.uid || e.involvedObject.uid === uid))
    .sort((a, b) => eventTime(b) - eventTime(a));
}

/** The ARM error codes named in a message (for `errors`). */
export function armCodes(message: string): string[] {
  return [...new Set(message.match(/\b(LinkedAuthorizationFailed|AuthorizationFailed|FailedIdentityOperation|TooManyRequests|OperationNotAllowed|InvalidIdentityValues|ResourceNotFound|Identity not found)\b/g) ?? [])];
}
