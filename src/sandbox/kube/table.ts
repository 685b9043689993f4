import type { KubeObject, PrinterColumn } from "./types.js";
import type { ResourceType } from "./registry/resources.js";
import { isPlainObject } from "./types.js";

/**
 * The server-side printing kubectl get asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`):
 * columns for the built-in kinds as kube-apiserver prints them, a CRD's additionalPrinterColumns for custom ones.
 */

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  value: (o: KubeObject) => unknown;
}

/** kubectl's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  return y < 8 && d % 365 !== 0 ? `${y}y${d % 365}d` : `${y}y`;
}

function age(timestamp: unknown): string {
  if (typeof timestamp !== "string") return "<unknown>";
  return humanDuration(Date.now() - Date.parse(timestamp));
}

/** Evaluates the JSONPath subset printer columns use: `.a.b`, `[0]`, `[?(@.type=="Ready")]`. */
export function jsonPath(obj: unknown, path: string): unknown {
  const tokens = path.replace(/^\{|\}$/g, "").match(/\.[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let cur: unknown = obj;
  for (const tok of tokens) {
    if (cur === undefined || cur === null) return undefined;
    if (tok.startsWith(".")) {
      cur = isPlainObject(cur) ? cur[tok.slice(1)] : undefined;
      continue;
    }
    const inner = tok.slice(1, -1);
    const filter = /^\?\(@\.([\w.-]+)\s*==\s*["']?([^"']*)["']?\)$/.exec(inner);
    if (filter && Array.isArray(cur)) {
      cur = cur.find((x) => isPlainObject(x) && String(x[filter[1]]) === filter[2]);
    } else if (/^-?\d+$/.test(inner) && Array.isArray(cur)) {
      const i = Number(inner);
      cur = cur[i < 0 ? cur.length + i : i];
    } else return undefined;
  }
  return cur;
}

const name: Column = { name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace.", priority: 0, value: (o) => o.metadata.name };
const ageCol: Column = { name: "Age", type: "string", description: "CreationTimestamp is a timestamp representing the server time when this object was created.", priority: 0, value: (o) => age(o.metadata.creationTimestamp) };

function col(title: string, value: (o: KubeObject) => unknown, type = "string", priority = 0): Column {
  return { name: title, type, description: title, priority, value };
}

function at(o: KubeObject, path: string): unknown {
  return jsonPath(o, path);
}

function num(v: unknown): number {
  return typeof v === "number" ? v : 0;
}

function podReady(o: KubeObject): string {
  const statuses = (at(o, ".status.containerStatuses") as { ready?: boolean }[] | undefined) ?? [];
  const total = ((at(o, ".spec.containers") as unknown[] | undefined) ?? []).length;
  return `${statuses.filter((s) => s.ready).length}/${total}`;
}

function podRestarts(o: KubeObject): number {
  return ((at(o, ".status.containerStatuses") as { restartCount?: number }[] | undefined) ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0);
}

/** kubectl's STATUS: the pod's reason or phase, overridden by the last container waiting or terminated with a reason. */
function podStatus(o: KubeObject): unknown {
  if (o.metadata.deletionTimestamp) return "Terminating";
  let reason = (at(o, ".status.reason") ?? at(o, ".status.phase") ?? "Pending") as string;
  type State = { waiting?: { reason?: string }; terminated?: { reason?: string; signal?: number; exitCode?: number }; running?: unknown };
  const statuses = ((o.status as { containerStatuses?: { ready?: boolean; state?: State }[] } | undefined)?.containerStatuses ?? []).slice().reverse();
  let running = false;
  for (const c of statuses) {
    const state = c.state ?? {};
    if (state.waiting?.reason) reason = state.waiting.reason;
    else if (state.terminated) reason = state.terminated.reason ?? (state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode}`);
    else if (c.ready && state.running) running = true;
  }
  return reason === "Completed" && running ? "Running" : reason;
}

function nodeStatus(o: KubeObject): string {
  const ready = at(o, '.status.conditions[?(@.type=="Ready")].status');
  const s = ready === "True" ? "Ready" : "NotReady";
  return at(o, ".spec.unschedulable") ? `${s},SchedulingDisabled` : s;
}

/** Roles from `node-role.kubernetes.io/<role>` labels and the `kubernetes.io/role` label AKS sets (findNodeRoles). */
function nodeRoles(o: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith("node-role.kubernetes.io/")) roles.add(k.slice("node-role.kubernetes.io/".length));
    else if (k === "kubernetes.io/role" && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(",") : "<none>";
}

function servicePorts(o: KubeObject): string {
  const ports = (at(o, ".spec.ports") as { port?: number; protocol?: string; nodePort?: number }[] | undefined) ?? [];
  if (!ports.length) return "<none>";
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`).join(",");
}

function hasCondition(o: KubeObject, type: string): boolean {
  return ((at(o, ".status.conditions") as { type: string; status: string }[] | undefined) ?? []).some((c) => c.type === type && c.status === "True");
}

/** printJob's STATUS: the first of Complete, Failed, Terminating, Suspended, FailureTarget, SuccessCriteriaMet, else Running. */
function jobStatus(o: KubeObject): string {
  if (hasCondition(o, "Complete")) return "Complete";
  if (hasCondition(o, "Failed")) return "Failed";
  if (o.metadata.deletionTimestamp) return "Terminating";
  for (const type of ["Suspended", "FailureTarget", "SuccessCriteriaMet"]) if (hasCondition(o, type)) return type;
  return "Running";
}

function jobCompletions(o: KubeObject): string {
  const succeeded = num(at(o, ".status.succeeded"));
  const completions = at(o, ".spec.completions");
  const parallelism = at(o, ".spec.parallelism");
  if (typeof completions === "number") return `${succeeded}/${completions}`;
  return typeof parallelism === "number" && parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function jobDuration(o: KubeObject): string {
  const start = at(o, ".status.startTime");
  if (typeof start !== "string") return "";
  const end = at(o, ".status.completionTime");
  return humanDuration((typeof end === "string" ? Date.parse(end) : Date.now()) - Date.parse(start));
}

function count(v: unknown): number {
  return isPlainObject(v) ? Object.keys(v).length : Array.isArray(v) ? v.length : 0;
}

const BUILTIN_COLUMNS: Record<string, Column[]> = {
  "/Namespace": [name, col("Status", (o) => at(o, ".status.phase")), ageCol],
  "/Node": [
    name,
    col("Status", nodeStatus),
    col("Roles", nodeRoles),
    ageCol,
    col("Version", (o) => at(o, ".status.nodeInfo.kubeletVersion")),
    col("Internal-IP", (o) => at(o, '.status.addresses[?(@.type=="InternalIP")].address') ?? "<none>", "string", 1),
    col("OS-Image", (o) => at(o, ".status.nodeInfo.osImage"), "string", 1),
  ],
  "/Pod": [
    name,
    col("Ready", podReady),
    col("Status", podStatus),
    col("Restarts", podRestarts, "string"),
    ageCol,
    col("IP", (o) => at(o, ".status.podIP") ?? "<none>", "string", 1),
    col("Node", (o) => at(o, ".spec.nodeName") ?? "<none>", "string", 1),
  ],
  "/Service": [
    name,
    col("Type", (o) => at(o, ".spec.type")),
    col("Cluster-IP", (o) => at(o, ".spec.clusterIP") ?? "<none>"),
    col("External-IP", () => "<none>"),
    col("Port(s)", servicePorts),
    ageCol,
  ],
  "/ServiceAccount": [name, col("Secrets", (o) => count(o.secrets), "integer"), ageCol],
  "/ConfigMap": [name, col("Data", (o) => count(o.data) + count(o.binaryData), "integer"), ageCol],
  "/Secret": [name, col("Type", (o) => o.type), col("Data", (o) => count(o.data), "integer"), ageCol],
  "/Event": [
    col("Last Seen", (o) => age(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp)),
    col("Type", (o) => o.type),
    col("Reason", (o) => o.reason),
    col("Object", (o) => `${String(at(o, ".involvedObject.kind") ?? "").toLowerCase()}/${String(at(o, ".involvedObject.name") ?? "")}`),
    col("Message", (o) => o.message),
  ],
  "apps/Deployment": [
    name,
    col("Ready", (o) => `${num(at(o, ".status.readyReplicas"))}/${num(at(o, ".spec.replicas"))}`),
    col("Up-to-date", (o) => num(at(o, ".status.updatedReplicas")), "integer"),
    col("Available", (o) => num(at(o, ".status.availableReplicas")), "integer"),
    ageCol,
  ],
  "apps/DaemonSet": [
    name,
    col("Desired", (o) => num(at(o, ".status.desiredNumberScheduled")), "integer"),
    col("Current", (o) => num(at(o, ".status.currentNumberScheduled")), "integer"),
    col("Ready", (o) => num(at(o, ".status.numberReady")), "integer"),
    col("Up-to-date", (o) => num(at(o, ".status.updatedNumberScheduled")), "integer"),
    col("Available", (o) => num(at(o, ".status.numberAvailable")), "integer"),
    col("Node Selector", (o) => Object.entries((at(o, ".spec.template.spec.nodeSelector") as Record<string, string>) ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "<none>"),
    ageCol,
  ],
  "apps/ReplicaSet": [
    name,
    col("Desired", (o) => num(at(o, ".spec.replicas")), "integer"),
    col("Current", (o) => num(at(o, ".status.replicas")), "integer"),
    col("Ready", (o) => num(at(o, ".status.readyReplicas")), "integer"),
    ageCol,
  ],
  "apps/StatefulSet": [name, col("Ready", (o) => `${num(at(o, ".status.readyReplicas"))}/${num(at(o, ".spec.replicas"))}`), ageCol],
  "batch/Job": [name, col("Status", jobStatus), col("Completions", jobCompletions), col("Duration", jobDuration), ageCol],
  "batch/CronJob": [
    name,
    col("Schedule", (o) => at(o, ".spec.schedule")),
    col("Timezone", (o) => at(o, ".spec.timeZone") ?? "<none>"),
    col("Suspend", (o) => (at(o, ".spec.suspend") ? "True" : "False")),
    col("Active", (o) => count(at(o, ".status.active")), "integer"),
    col("Last Schedule", (o) => (at(o, ".status.lastScheduleTime") === undefined ? "<none>" : age(at(o, ".status.lastScheduleTime")))),
    ageCol,
  ],
  "coordination.k8s.io/Lease": [name, col("Holder", (o) => at(o, ".spec.holderIdentity") ?? ""), ageCol],
  "rbac.authorization.k8s.io/RoleBinding": [name, col("Role", (o) => `${String(at(o, ".roleRef.kind"))}/${String(at(o, ".roleRef.name"))}`), ageCol],
  "rbac.authorization.k8s.io/ClusterRoleBinding": [name, col("Role", (o) => `${String(at(o, ".roleRef.kind"))}/${String(at(o, ".roleRef.name"))}`), ageCol],
  "rbac.authorization.k8s.io/ClusterRole": [name, col("Created At", (o) => o.metadata.creationTimestamp, "date")],
  "rbac.authorization.k8s.io/Role": [name, col("Created At", (o) => o.metadata.creationTimestamp, "date")],
  "apiextensions.k8s.io/CustomResourceDefinition": [name, col("Created At", (o) => o.metadata.creationTimestamp, "date")],
};

function printerColumn(c: PrinterColumn): Column {
  return {
    name: c.name,
    type: c.type,
    format: c.format,
    description: c.description ?? "",
    priority: c.priority ?? 0,
    value: (o) => {
      const v = jsonPath(o, c.jsonPath);
      if (v === undefined || v === null) return null;
      if (c.type === "date") return age(v);
      return isPlainObject(v) || Array.isArray(v) ? JSON.stringify(v) : v;
    },
  };
}

function columnsFor(rt: ResourceType): Column[] {
  if (rt.crdName) return rt.printerColumns.length ? [name, ...rt.printerColumns.map(printerColumn)] : [name, ageCol];
  return BUILTIN_COLUMNS[`${rt.group}/${rt.kind}`] ?? [name, ageCol];
}

export type IncludeObject = "None" | "Metadata" | "Object";

function rowObject(o: KubeObject, include: IncludeObject): unknown {
  if (include === "None") return undefined;
  if (include === "Object") return o;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

export function toTable(rt: ResourceType, objects: KubeObject[], meta: Record<string, unknown>, include: IncludeObject, noHeaders = false): Record<string, unknown> {
  const columns = columnsFor(rt);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: meta,
    columnDefinitions: noHeaders
      ? null
      : columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? "", description: c.description, priority: c.priority })),
    rows: objects.map((o) => ({ cells: columns.map((c) => c.value(o) ?? null), object: rowObject(o, include) })),
  };
}
