import type { FieldError } from "./errors.js";
import type { KubeObject } from "./types.js";

/**
 * Object validation with kube-apiserver's field paths and messages (k8s.io/apimachinery/pkg/util/validation).
 * The checks every kind shares (names, labels, annotations); what is a kind's own lives with its strategy (kinds/).
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
export function pathSegmentName(value: string): string[] {
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

export function validateMetadata(validateName: (name: string) => string[], obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const meta = obj.metadata;
  const name = meta.name ?? "";
  if (!name) errs.push({ type: "FieldValueRequired", field: "metadata.name", detail: "name or generateName is required" });
  else errs.push(...invalid("metadata.name", name, validateName(name)));
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    errs.push(...invalid("metadata.labels", key, qualifiedName(key)));
    if (typeof value !== "string") errs.push({ type: "FieldValueTypeInvalid", field: `metadata.labels`, value, detail: "must be a string" });
    else errs.push(...invalid("metadata.labels", value, labelValue(value)));
  }
  for (const key of Object.keys(meta.annotations ?? {})) errs.push(...invalid("metadata.annotations", key, qualifiedName(key)));
  return errs;
}
