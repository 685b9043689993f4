import type { FieldError } from "./errors.js";
import type { KubeObject, ResourceType } from "./types.js";
import { isPlainObject } from "./types.js";

/**
 * Object validation with kube-apiserver's field paths and messages (k8s.io/apimachinery/pkg/util/validation).
 * Only what clients trip over is checked: names, labels, and the fields without which an object is meaningless.
 */

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?";
const LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

function full(re: string): RegExp {
  return new RegExp(`^${re}$`);
}

function tooLong(max: number): string {
  return `must be no more than ${max} characters`;
}

/** A name check: a length limit and a pattern, with the wording kube-apiserver uses for it. */
function nameFormat(max: number, pattern: string, description: string): (value: string) => string[] {
  return (value) => {
    const errs: string[] = [];
    if (value.length > max) errs.push(tooLong(max));
    if (!full(pattern).test(value)) errs.push(`${description}, regex used for validation is '${pattern}')`);
    return errs;
  };
}

export const dns1123Subdomain = nameFormat(
  253,
  DNS1123_SUBDOMAIN,
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com'",
);

export const dns1123Label = nameFormat(
  63,
  DNS1123_LABEL,
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc'",
);

export const dns1035Label = nameFormat(
  63,
  DNS1035_LABEL,
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123'",
);

const labelValue = nameFormat(
  63,
  LABEL_VALUE,
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345'",
);

/** RBAC objects (and a few others) only need a name that is a valid path segment. */
function pathSegmentName(value: string): string[] {
  if (value === "." || value === "..") return [`may not be '${value}'`];
  for (const bad of ["/", "%"]) if (value.includes(bad)) return [`may not contain '${bad}'`];
  return [];
}

function qualifiedName(value: string): string[] {
  const slash = value.indexOf("/");
  const [prefix, name] = slash < 0 ? ["", value] : [value.slice(0, slash), value.slice(slash + 1)];
  const errs: string[] = [];
  if (prefix) errs.push(...dns1123Subdomain(prefix).map((e) => `prefix part ${e}`));
  if (name.length === 0) errs.push("name part must be non-empty");
  else if (name.length > 63) errs.push(`name part ${tooLong(63)}`);
  else if (!full(QUALIFIED_NAME).test(name)) {
    errs.push(
      `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '${QUALIFIED_NAME}')`,
    );
  }
  return errs;
}

function invalid(field: string, value: unknown, details: string[]): FieldError[] {
  return details.map((detail) => ({ type: "FieldValueInvalid", field, value, detail }));
}

/** How a kind's names are checked, as each kind's registry strategy chooses. */
export function nameValidator(rt: ResourceType): (name: string) => string[] {
  if (rt.group === "" && rt.kind === "Namespace") return dns1123Label;
  if (rt.group === "" && rt.kind === "Service") return dns1035Label;
  if (rt.group === "rbac.authorization.k8s.io") return pathSegmentName;
  return dns1123Subdomain;
}

export function validateMetadata(rt: ResourceType, obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const meta = obj.metadata;
  const name = meta.name ?? "";
  if (!name) errs.push({ type: "FieldValueRequired", field: "metadata.name", detail: "name or generateName is required" });
  else errs.push(...invalid("metadata.name", name, nameValidator(rt)(name)));
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    errs.push(...invalid("metadata.labels", key, qualifiedName(key)));
    if (typeof value !== "string") errs.push({ type: "FieldValueTypeInvalid", field: `metadata.labels`, value, detail: "must be a string" });
    else errs.push(...invalid("metadata.labels", value, labelValue(value)));
  }
  for (const key of Object.keys(meta.annotations ?? {})) errs.push(...invalid("metadata.annotations", key, qualifiedName(key)));
  return errs;
}

function podSpecErrors(spec: unknown, path: string): FieldError[] {
  if (!isPlainObject(spec)) return [{ type: "FieldValueRequired", field: path, detail: "" }];
  const errs: FieldError[] = [];
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    errs.push({ type: "FieldValueRequired", field: `${path}.containers` });
    return errs;
  }
  const seen = new Set<string>();
  containers.forEach((c: unknown, i) => {
    const at = `${path}.containers[${i}]`;
    const container = isPlainObject(c) ? c : {};
    const name = typeof container.name === "string" ? container.name : "";
    if (!name) errs.push({ type: "FieldValueRequired", field: `${at}.name` });
    else {
      errs.push(...invalid(`${at}.name`, name, dns1123Label(name)));
      if (seen.has(name)) errs.push({ type: "FieldValueDuplicate", field: `${at}.name`, value: name });
      seen.add(name);
    }
    if (typeof container.image !== "string" || !container.image) errs.push({ type: "FieldValueRequired", field: `${at}.image` });
  });
  errs.push(...projectedTokenErrors(spec.volumes, `${path}.volumes`));
  return errs;
}

/** Projected service-account tokens: a path, and a lifetime TokenRequest would accept (at least 10 minutes). */
function projectedTokenErrors(volumes: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (Array.isArray(volumes) ? volumes : []).forEach((v: unknown, i) => {
    const sources = isPlainObject(v) && isPlainObject(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources : [];
    sources.forEach((source: unknown, j) => {
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

function workloadErrors(obj: KubeObject): FieldError[] {
  const spec = isPlainObject(obj.spec) ? obj.spec : {};
  const errs: FieldError[] = [];
  const selector = spec.selector;
  if (!isPlainObject(selector)) errs.push({ type: "FieldValueRequired", field: "spec.selector" });
  const template = isPlainObject(spec.template) ? spec.template : {};
  const tmeta = isPlainObject(template.metadata) ? template.metadata : {};
  const labels = isPlainObject(tmeta.labels) ? (tmeta.labels as Record<string, string>) : {};
  if (isPlainObject(selector) && isPlainObject(selector.matchLabels)) {
    const mismatch = Object.entries(selector.matchLabels).some(([k, v]) => labels[k] !== v);
    if (mismatch) {
      errs.push({ type: "FieldValueInvalid", field: "spec.template.metadata.labels", value: labels, detail: "`selector` does not match template `labels`" });
    }
  }
  errs.push(...podSpecErrors(template.spec, "spec.template.spec"));
  return errs;
}

/** Kind-specific checks beyond metadata. */
export function validateObject(rt: ResourceType, obj: KubeObject): FieldError[] {
  const errs = validateMetadata(rt, obj);
  if (rt.crdName) return errs;
  switch (`${rt.group}/${rt.kind}`) {
    case "/Pod":
      errs.push(...podSpecErrors(obj.spec, "spec"));
      break;
    case "apps/Deployment":
    case "apps/DaemonSet":
    case "apps/ReplicaSet":
      errs.push(...workloadErrors(obj));
      break;
    case "rbac.authorization.k8s.io/RoleBinding":
    case "rbac.authorization.k8s.io/ClusterRoleBinding":
      if (!isPlainObject(obj.roleRef) || !obj.roleRef.name) errs.push({ type: "FieldValueRequired", field: "roleRef.name" });
      break;
  }
  return errs;
}
