import type { KubeObject } from "../kube/index.js";

/**
 * A container's environment as the kubelet builds it: env values, fieldRef/resourceFieldRef, configMap and
 * secret references, envFrom, and `$(VAR)` expansion in values, command and args.
 */

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string; divisor?: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface PodFacts {
  pod: KubeObject & { spec?: { nodeName?: string; serviceAccountName?: string } };
  podIP: string;
  hostIP: string;
}

/** Reads a ConfigMap's or Secret's data (Secrets decoded); undefined when it does not exist. */
export type DataSource = (kind: "ConfigMap" | "Secret", namespace: string, name: string) => Record<string, string> | undefined;

export class EnvError extends Error {}

function labelKey(path: string, prefix: string): string | undefined {
  const m = new RegExp(`^${prefix.replace(".", "\\.")}\\['(.+)'\\]$`).exec(path);
  return m?.[1];
}

export function fieldValue(path: string, facts: PodFacts): string {
  const meta = facts.pod.metadata;
  const spec = facts.pod.spec ?? {};
  switch (path) {
    case "metadata.name":
      return meta.name ?? "";
    case "metadata.namespace":
      return meta.namespace ?? "";
    case "metadata.uid":
      return meta.uid ?? "";
    case "spec.nodeName":
      return String(spec.nodeName ?? "");
    case "spec.serviceAccountName":
      return String(spec.serviceAccountName ?? "default");
    case "status.hostIP":
    case "status.hostIPs":
      return facts.hostIP;
    case "status.podIP":
    case "status.podIPs":
      return facts.podIP;
  }
  const label = labelKey(path, "metadata.labels");
  if (label !== undefined) return meta.labels?.[label] ?? "";
  const annotation = labelKey(path, "metadata.annotations");
  if (annotation !== undefined) return meta.annotations?.[annotation] ?? "";
  throw new EnvError(`unsupported fieldRef fieldPath ${path}`);
}

/** Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` escapes, anything else stays as written. */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === "$$") return "$";
    return name !== undefined && Object.hasOwn(vars, name) ? vars[name] : whole;
  });
}

function keyRef(data: DataSource, kind: "ConfigMap" | "Secret", ns: string, ref: { name: string; key: string; optional?: boolean }): string | undefined {
  const values = data(kind, ns, ref.name);
  const value = values?.[ref.key];
  if (value === undefined && !ref.optional) {
    throw new EnvError(values ? `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}` : `${kind.toLowerCase()} "${ref.name}" not found`);
  }
  return value;
}

/** The container's variables in order (later ones see earlier ones in `$(VAR)`), envFrom first as the kubelet does. */
export function containerEnv(container: { env?: EnvVar[]; envFrom?: EnvFromSource[]; resources?: { limits?: Record<string, string> } }, facts: PodFacts, data: DataSource): Record<string, string> {
  const ns = facts.pod.metadata.namespace ?? "default";
  const vars: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const kind = from.configMapRef ? "ConfigMap" : "Secret";
    const values = data(kind, ns, ref.name);
    if (!values) {
      if (ref.optional) continue;
      throw new EnvError(`${kind.toLowerCase()} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(values)) vars[`${from.prefix ?? ""}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    const from = e.valueFrom;
    let value: string | undefined;
    if (!from) value = expand(e.value ?? "", vars);
    else if (from.fieldRef) value = fieldValue(from.fieldRef.fieldPath, facts);
    else if (from.resourceFieldRef) value = container.resources?.limits?.[from.resourceFieldRef.resource] ?? "0";
    else if (from.configMapKeyRef) value = keyRef(data, "ConfigMap", ns, from.configMapKeyRef);
    else if (from.secretKeyRef) value = keyRef(data, "Secret", ns, from.secretKeyRef);
    if (value !== undefined) vars[e.name] = value;
  }
  return vars;
}
