import type { KubeObject } from "./types.js";
import { isPlainObject } from "./types.js";

/**
 * The defaulting kube-apiserver applies to built-in kinds on create (SetDefaults_* and the create strategies),
 * limited to the fields clients and controllers read back.
 */

type Obj = Record<string, unknown>;

function obj(parent: Obj, key: string): Obj {
  if (!isPlainObject(parent[key])) parent[key] = {};
  return parent[key] as Obj;
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

export function defaultPodSpec(spec: Obj): void {
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.schedulerName ??= "default-scheduler";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  spec.serviceAccountName ??= typeof spec.serviceAccount === "string" ? spec.serviceAccount : "default";
  spec.serviceAccount = spec.serviceAccountName;
  spec.enableServiceLinks ??= true;
  for (const list of ["containers", "initContainers"]) {
    const cs = spec[list];
    if (Array.isArray(cs)) cs.forEach(defaultContainer);
  }
  if (Array.isArray(spec.volumes)) spec.volumes.forEach(defaultVolume);
}

/** Projected volumes: file mode 0644, and service-account tokens for an hour unless said otherwise. */
function defaultVolume(v: unknown): void {
  if (!isPlainObject(v) || !isPlainObject(v.projected)) return;
  v.projected.defaultMode ??= 420;
  const sources = Array.isArray(v.projected.sources) ? v.projected.sources : [];
  for (const source of sources) if (isPlainObject(source) && isPlainObject(source.serviceAccountToken)) source.serviceAccountToken.expirationSeconds ??= 3600;
}

function defaultPodTemplate(owner: Obj): void {
  const template = obj(owner, "template");
  defaultPodSpec(obj(template, "spec"));
}

/** Service cluster IPs come from AKS's default service CIDR (10.0.0.0/16; 10.0.0.1 is `kubernetes`). */
export function defaultService(service: KubeObject, allocateIp: () => string): void {
  const spec = obj(service, "spec");
  spec.type ??= "ClusterIP";
  spec.sessionAffinity ??= "None";
  if (spec.type !== "ExternalName") {
    if (spec.clusterIP === undefined || spec.clusterIP === "") spec.clusterIP = allocateIp();
    spec.clusterIPs ??= [spec.clusterIP];
    spec.ipFamilies ??= ["IPv4"];
    spec.ipFamilyPolicy ??= "SingleStack";
    spec.internalTrafficPolicy ??= "Cluster";
  }
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isPlainObject(p)) continue;
      p.protocol ??= "TCP";
      p.targetPort ??= p.port;
    }
  }
  service.status ??= { loadBalancer: {} };
}

/** Defaults a new object of a built-in kind in place. */
export function applyCreateDefaults(group: string, kind: string, o: KubeObject, allocateIp: () => string): void {
  switch (`${group}/${kind}`) {
    case "/Namespace":
      o.metadata.labels = { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": o.metadata.name ?? "" };
      obj(o, "spec").finalizers ??= ["kubernetes"];
      o.status = { phase: "Active" };
      break;
    case "/Pod": {
      defaultPodSpec(obj(o, "spec"));
      o.status = { phase: "Pending", qosClass: "BestEffort" };
      break;
    }
    case "/Service":
      defaultService(o, allocateIp);
      break;
    case "/Secret":
      o.type ??= "Opaque";
      break;
    case "apps/Deployment": {
      const spec = obj(o, "spec");
      spec.replicas ??= 1;
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } };
      defaultPodTemplate(spec);
      break;
    }
    case "apps/DaemonSet": {
      const spec = obj(o, "spec");
      spec.revisionHistoryLimit ??= 10;
      spec.updateStrategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
      defaultPodTemplate(spec);
      break;
    }
    case "apps/ReplicaSet": {
      const spec = obj(o, "spec");
      spec.replicas ??= 1;
      defaultPodTemplate(spec);
      break;
    }
  }
}
