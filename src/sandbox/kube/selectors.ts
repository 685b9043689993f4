import { Errors } from "./errors.js";
import type { KubeObject } from "./types.js";

/**
 * Label and field selectors, in the string form of list/watch query parameters (k8s.io/apimachinery/pkg/labels,
 * pkg/fields) and the structured form of `spec.selector` (metav1.LabelSelector).
 */

export type LabelOperator = "=" | "!=" | "in" | "notin" | "exists" | "!exists" | "gt" | "lt";

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

/** metav1.LabelSelector, as Deployments and ReplicaSets carry it. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function parseError(detail: string): Error {
  return Errors.badRequest(`unable to parse requirement: ${detail}`);
}

/** Splits on commas that are not inside `( )`. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function checkKey(key: string): string {
  if (!KEY.test(key)) throw parseError(`invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  return key;
}

function parseRequirement(text: string): LabelRequirement {
  let m = /^!\s*(\S+)$/.exec(text);
  if (m) return { key: checkKey(m[1]), operator: "!exists", values: [] };
  m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(text);
  if (m) {
    const values = m[3].split(",").map((v) => v.trim());
    return { key: checkKey(m[1]), operator: m[2] as "in" | "notin", values: values.length === 1 && values[0] === "" ? [] : values };
  }
  m = /^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(.*)$/.exec(text);
  if (m) {
    const op: LabelOperator = m[2] === "!=" ? "!=" : m[2] === "<" ? "lt" : m[2] === ">" ? "gt" : "=";
    return { key: checkKey(m[1]), operator: op, values: [m[3].trim()] };
  }
  if (/^[^\s=!<>()]+$/.test(text)) return { key: checkKey(text), operator: "exists", values: [] };
  throw parseError(`found '${text}', expected: in, notin, =, ==, !=, gt, lt`);
}

export function parseLabelSelector(text: string | null | undefined): LabelRequirement[] {
  if (!text) return [];
  return splitTop(text).map(parseRequirement);
}

export function matchesRequirements(requirements: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const value = l[r.key];
    switch (r.operator) {
      case "=":
        return has && value === r.values[0];
      case "!=":
        return !has || value !== r.values[0];
      case "in":
        return has && r.values.includes(value);
      case "notin":
        return !has || !r.values.includes(value);
      case "exists":
        return has;
      case "!exists":
        return !has;
      case "gt":
        return has && Number(value) > Number(r.values[0]);
      case "lt":
        return has && Number(value) < Number(r.values[0]);
    }
  });
}

/** The structured selector as requirements; an empty selector matches everything, as in kube. */
export function requirementsOf(selector: LabelSelector): LabelRequirement[] {
  const out: LabelRequirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, v]) => ({ key, operator: "=", values: [v] }));
  for (const e of selector.matchExpressions ?? []) {
    const operator: LabelOperator = e.operator === "In" ? "in" : e.operator === "NotIn" ? "notin" : e.operator === "Exists" ? "exists" : "!exists";
    out.push({ key: e.key, operator, values: e.values ?? [] });
  }
  return out;
}

export function matchesLabelSelector(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  return matchesRequirements(requirementsOf(selector), labels);
}

export interface FieldRequirement {
  field: string;
  operator: "=" | "!=";
  value: string;
}

/**
 * A fieldSelector over metadata.name, metadata.namespace and the fields the kind selects on (its strategy's
 * selectableFields); custom resources have only the metadata ones, and their own wording for the rest.
 */
export function parseFieldSelector(text: string | null | undefined, selectable: string[], custom: boolean): FieldRequirement[] {
  if (!text) return [];
  const allowed = ["metadata.name", "metadata.namespace", ...selectable];
  return splitTop(text).map((part) => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw Errors.badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const field = m[1].trim();
    if (!allowed.includes(field)) {
      throw Errors.badRequest(
        custom ? `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"` : `field label not supported: ${field}`,
      );
    }
    return { field, operator: m[2] === "!=" ? "!=" : "=", value: m[3].trim() };
  });
}

function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return path === "spec.hostNetwork" || path === "spec.unschedulable" ? "false" : "";
  return String(cur);
}

export function matchesFields(requirements: FieldRequirement[], obj: KubeObject): boolean {
  return requirements.every((r) => (fieldValue(obj, r.field) === r.value) === (r.operator === "="));
}
