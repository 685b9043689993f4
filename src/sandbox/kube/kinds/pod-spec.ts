import type { FieldError } from "../errors.js";
import type { ListMergeRule } from "../types.js";
import { isPlainObject, type KubeObject } from "../types.js";
import { dns1123Label } from "../validation.js";

/**
 * A PodSpec as kube-apiserver defaults and validates it (SetDefaults_PodSpec, ValidatePodSpec), for pods and for
 * every template that stamps pods out (Deployments, StatefulSets, Jobs, ...), with its field paths and wording.
 */

type Obj = Record<string, unknown>;

const byName: ListMergeRule = { type: "map", keys: ["name"] };

/** Merge rules of a PodSpec, prefixed with where the PodSpec sits in the object. */
export function podSpecRules(prefix: string): Record<string, ListMergeRule> {
  const rules: Record<string, ListMergeRule> = {
    containers: byName,
    initContainers: byName,
    ephemeralContainers: byName,
    volumes: byName,
    imagePullSecrets: byName,
    hostAliases: { type: "map", keys: ["ip"] },
  };
  for (const c of ["containers", "initContainers", "ephemeralContainers"]) {
    rules[`${c}.env`] = byName;
    rules[`${c}.volumeMounts`] = { type: "map", keys: ["mountPath"] };
    rules[`${c}.ports`] = { type: "map", keys: ["containerPort", "protocol"], keyDefaults: { protocol: "TCP" } };
    rules[`${c}.volumeDevices`] = { type: "map", keys: ["devicePath"] };
  }
  return Object.fromEntries(Object.entries(rules).map(([k, v]) => [`${prefix}.${k}`, v]));
}

function defaultContainer(c: unknown): void {
  if (!isPlainObject(c)) return;
  const image = typeof c.image === "string" ? c.image : "";
  const tag = image.includes("@") ? "digest" : (/:([^/:]+)$/.exec(image)?.[1] ?? "latest");
  c.imagePullPolicy ??= tag === "latest" ? "Always" : "IfNotPresent";
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isPlainObject(p)) p.protocol ??= "TCP";
}

/** Projected volumes: file mode 0644, and service-account tokens for an hour unless said otherwise. */
function defaultVolume(v: unknown): void {
  if (!isPlainObject(v) || !isPlainObject(v.projected)) return;
  v.projected.defaultMode ??= 420;
  const sources = Array.isArray(v.projected.sources) ? v.projected.sources : [];
  for (const source of sources) if (isPlainObject(source) && isPlainObject(source.serviceAccountToken)) source.serviceAccountToken.expirationSeconds ??= 3600;
}

/**
 * `serviceAccount` is the deprecated alias of `serviceAccountName` (pkg/apis/core/v1/conversion.go): coming in, the
 * name wins and the alias only fills an empty name; going out, the alias is the name, and both are left out when
 * empty. Every PodSpec, a pod's or a template's, on every write: a merge patch that drops only the name gets it back
 * from the alias. No "default" here: the ServiceAccount admission plugin gives pods theirs, templates keep none.
 */
export function syncServiceAccountAlias(spec: Obj): void {
  const text = (v: unknown) => (typeof v === "string" ? v : "");
  const name = text(spec.serviceAccountName) || text(spec.serviceAccount);
  if (name) {
    spec.serviceAccountName = name;
    spec.serviceAccount = name;
  } else {
    delete spec.serviceAccountName;
    delete spec.serviceAccount;
  }
}

/** The PodSpec at `path` of an object (spec, spec.template.spec, ...), when it has one. */
function podSpecAt(o: Obj, path: readonly string[]): Obj | undefined {
  let at: unknown = o;
  for (const key of path) at = isPlainObject(at) ? at[key] : undefined;
  return isPlainObject(at) ? at : undefined;
}

/** A kind's decoding: the alias synced in its PodSpec at `path`, on every create and update. */
export function decodingPodSpecAt(path: readonly string[]): (o: KubeObject) => KubeObject {
  return (o) => {
    const spec = podSpecAt(o, path);
    if (spec) syncServiceAccountAlias(spec);
    return o;
  };
}

export function defaultPodSpec(spec: Obj): void {
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.schedulerName ??= "default-scheduler";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  syncServiceAccountAlias(spec);
  spec.enableServiceLinks ??= true;
  for (const list of ["containers", "initContainers"]) {
    const cs = spec[list];
    if (Array.isArray(cs)) cs.forEach(defaultContainer);
  }
  if (Array.isArray(spec.volumes)) spec.volumes.forEach(defaultVolume);
}

/** `obj[key]` as an object, made one if it is not (templates without a spec get an empty one to default). */
export function child(parent: Obj, key: string): Obj {
  if (!isPlainObject(parent[key])) parent[key] = {};
  return parent[key] as Obj;
}

/** Defaults the pod template of a workload's spec. */
export function defaultPodTemplate(spec: Obj): void {
  defaultPodSpec(child(child(spec, "template"), "spec"));
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function invalid(field: string, value: unknown, details: string[]): FieldError[] {
  return details.map((detail) => ({ type: "FieldValueInvalid", field, value, detail }));
}

/** validation.IsValidPortNum. */
function portNumberErrors(field: string, port: unknown): FieldError[] {
  return typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : invalid(field, port, ["must be between 1 and 65535, inclusive"]);
}

/** validateVolumes: each name a DNS label, once. */
function volumeErrors(volumes: unknown[], path: string): { names: Set<string>; errs: FieldError[] } {
  const names = new Set<string>();
  const errs: FieldError[] = [];
  volumes.forEach((v, i) => {
    const at = `${path}[${i}].name`;
    const name = isPlainObject(v) && typeof v.name === "string" ? v.name : "";
    if (!name) errs.push({ type: "FieldValueRequired", field: at, detail: "" });
    else errs.push(...invalid(at, name, dns1123Label(name)));
    if (names.has(name)) errs.push({ type: "FieldValueDuplicate", field: at, value: name });
    names.add(name);
  });
  errs.push(...projectedTokenErrors(volumes, path));
  return { names, errs };
}

/** Projected service-account tokens: a path, and a lifetime TokenRequest would accept (at least 10 minutes). */
function projectedTokenErrors(volumes: unknown[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  volumes.forEach((v, i) => {
    const sources = isPlainObject(v) && isPlainObject(v.projected) ? list(v.projected.sources) : [];
    sources.forEach((source, j) => {
      const token = isPlainObject(source) && isPlainObject(source.serviceAccountToken) ? source.serviceAccountToken : undefined;
      if (!token) return;
      const at = `${path}[${i}].projected.sources[${j}].serviceAccountToken`;
      if (typeof token.path !== "string" || !token.path) errs.push({ type: "FieldValueRequired", field: `${at}.path` });
      const seconds = token.expirationSeconds;
      if (typeof seconds === "number" && seconds < 600) errs.push({ type: "FieldValueInvalid", field: `${at}.expirationSeconds`, value: seconds, detail: "may not specify a duration less than 10 minutes" });
      if (typeof seconds === "number" && seconds > 2 ** 32) errs.push({ type: "FieldValueInvalid", field: `${at}.expirationSeconds`, value: seconds, detail: "may not specify a duration larger than 2^32 seconds" });
    });
  });
  return errs;
}

/** validateContainerPorts: port numbers in range, names unique. */
function portErrors(ports: unknown[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const port = isPlainObject(p) ? p : {};
    const at = `${path}[${i}]`;
    if (typeof port.name === "string" && port.name) {
      if (names.has(port.name)) errs.push({ type: "FieldValueDuplicate", field: `${at}.name`, value: port.name });
      names.add(port.name);
    }
    if (port.containerPort === undefined || port.containerPort === 0) errs.push({ type: "FieldValueRequired", field: `${at}.containerPort`, detail: "" });
    else errs.push(...portNumberErrors(`${at}.containerPort`, port.containerPort));
    if (port.hostPort !== undefined && port.hostPort !== 0) errs.push(...portNumberErrors(`${at}.hostPort`, port.hostPort));
  });
  return errs;
}

/** ValidateVolumeMounts: each mount names a volume of the pod, at a path no other mount of the container uses. */
function mountErrors(mounts: unknown[], volumes: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const paths = new Set<string>();
  mounts.forEach((m, i) => {
    const mount = isPlainObject(m) ? m : {};
    const at = `${path}[${i}]`;
    const name = typeof mount.name === "string" ? mount.name : "";
    if (!name) errs.push({ type: "FieldValueRequired", field: `${at}.name`, detail: "" });
    if (!volumes.has(name)) errs.push({ type: "FieldValueNotFound", field: `${at}.name`, value: name });
    const mountPath = typeof mount.mountPath === "string" ? mount.mountPath : "";
    if (!mountPath) errs.push({ type: "FieldValueRequired", field: `${at}.mountPath`, detail: "" });
    if (paths.has(mountPath)) errs.push(...invalid(`${at}.mountPath`, mountPath, ["must be unique"]));
    paths.add(mountPath);
  });
  return errs;
}

/** One list of containers; `names` holds the names already taken (init and regular containers share one set). */
function containerErrors(containers: unknown[], path: string, names: Set<string>, volumes: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  containers.forEach((c, i) => {
    const at = `${path}[${i}]`;
    const container = isPlainObject(c) ? c : {};
    const name = typeof container.name === "string" ? container.name : "";
    if (!name) errs.push({ type: "FieldValueRequired", field: `${at}.name` });
    else {
      errs.push(...invalid(`${at}.name`, name, dns1123Label(name)));
      if (names.has(name)) errs.push({ type: "FieldValueDuplicate", field: `${at}.name`, value: name });
      names.add(name);
    }
    if (typeof container.image !== "string" || !container.image) errs.push({ type: "FieldValueRequired", field: `${at}.image` });
    errs.push(...portErrors(list(container.ports), `${at}.ports`));
    errs.push(...mountErrors(list(container.volumeMounts), volumes, `${at}.volumeMounts`));
  });
  return errs;
}

/** ValidatePodSpec, for what clients and the workload identity webhook can get wrong. */
export function podSpecErrors(spec: unknown, path: string): FieldError[] {
  if (!isPlainObject(spec)) return [{ type: "FieldValueRequired", field: path, detail: "" }];
  const { names: volumes, errs } = volumeErrors(list(spec.volumes), `${path}.volumes`);
  const containers = list(spec.containers);
  if (containers.length === 0) return [...errs, { type: "FieldValueRequired", field: `${path}.containers` }];
  const names = new Set<string>();
  errs.push(...containerErrors(containers, `${path}.containers`, names, volumes));
  errs.push(...containerErrors(list(spec.initContainers), `${path}.initContainers`, names, volumes));
  return errs;
}
