import { Errors } from "./errors.js";
import type { KubeObject } from "./types.js";

/**
 * Authorization as the RBAC authorizer does it: a request is allowed when some rule of a (Cluster)Role bound to
 * the user, one of their groups or their ServiceAccount covers verb, API group, resource[/subresource] and name,
 * or the non-resource path. `system:masters` may do anything. Refusals carry kube-apiserver's 403 wording.
 */

export interface UserInfo {
  name: string;
  groups: string[];
}

export interface RequestAttributes {
  verb: string;
  /** False for non-resource URLs (/version, /healthz, ...). */
  isResourceRequest: boolean;
  path: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Where RBAC objects are read from (the live store). */
export interface RbacSource {
  clusterRoleBindings(): KubeObject[];
  roleBindings(namespace: string): KubeObject[];
  clusterRole(name: string): KubeObject | undefined;
  role(namespace: string, name: string): KubeObject | undefined;
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

interface RoleRef {
  kind?: string;
  name?: string;
}

function subjectMatches(subject: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case "User":
      return subject.name === user.name;
    case "Group":
      return subject.name !== undefined && user.groups.includes(subject.name);
    case "ServiceAccount": {
      const ns = subject.namespace || bindingNamespace;
      return user.name === `system:serviceaccount:${ns}:${subject.name}`;
    }
    default:
      return false;
  }
}

function bound(binding: KubeObject, user: UserInfo): boolean {
  const subjects = (binding.subjects as Subject[] | undefined) ?? [];
  return subjects.some((s) => subjectMatches(s, user, binding.metadata.namespace ?? ""));
}

function rulesOf(role: KubeObject | undefined): PolicyRule[] {
  return (role?.rules as PolicyRule[] | undefined) ?? [];
}

function has(list: string[] | undefined, value: string): boolean {
  return (list ?? []).some((v) => v === "*" || v === value);
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some((r) => {
    if (r === "*" || r === combined) return true;
    if (!subresource) return false;
    return r === `*/${subresource}` || r === `${resource}/*`;
  });
}

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.isResourceRequest) {
    return (rule.nonResourceURLs ?? []).some((u) => u === "*" || u === a.path || (u.endsWith("*") && a.path.startsWith(u.slice(0, -1))));
  }
  if (!has(rule.apiGroups, a.group) || !resourceMatches(rule, a.resource, a.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(a.name);
}

export function authorize(source: RbacSource, user: UserInfo, a: RequestAttributes): boolean {
  if (user.groups.includes("system:masters")) return true;
  for (const binding of source.clusterRoleBindings()) {
    if (!bound(binding, user)) continue;
    const ref = binding.roleRef as RoleRef | undefined;
    if (ref?.kind === "ClusterRole" && rulesOf(source.clusterRole(ref.name ?? "")).some((r) => ruleAllows(r, a))) return true;
  }
  if (!a.isResourceRequest || !a.namespace) return false;
  for (const binding of source.roleBindings(a.namespace)) {
    if (!bound(binding, user)) continue;
    const ref = binding.roleRef as RoleRef | undefined;
    const role = ref?.kind === "ClusterRole" ? source.clusterRole(ref.name ?? "") : source.role(a.namespace, ref?.name ?? "");
    // A RoleBinding grants a ClusterRole's resource rules only inside its own namespace.
    if (rulesOf(role).some((r) => !r.nonResourceURLs && ruleAllows(r, a))) return true;
  }
  return false;
}

/** The 403 kube-apiserver answers (forbiddenMessage in k8s.io/apiserver/pkg/endpoints/handlers/responsewriters). */
export function forbidden(user: UserInfo, a: RequestAttributes): Error {
  const who = `User "${user.name}"`;
  if (!a.isResourceRequest) return Errors.forbiddenPath(`${who} cannot ${a.verb} path "${a.path}"`);
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  // The Status names the resource without its subresource; the sentence names both.
  return Errors.forbidden(
    { group: a.group, resource: a.resource },
    a.name || undefined,
    `${who} cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${where}`,
  );
}

/** The bootstrap policy kube-apiserver reconciles on start (the part clients rely on). */
export function bootstrapPolicy(): KubeObject[] {
  const rbac = "rbac.authorization.k8s.io/v1";
  const labels = { "kubernetes.io/bootstrapping": "rbac-defaults" };
  const annotations = { "rbac.authorization.kubernetes.io/autoupdate": "true" };
  const role = (name: string, rules: PolicyRule[]): KubeObject => ({ apiVersion: rbac, kind: "ClusterRole", metadata: { name, labels, annotations }, rules });
  const binding = (name: string, group: string): KubeObject => ({
    apiVersion: rbac,
    kind: "ClusterRoleBinding",
    metadata: { name, labels, annotations },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: group }],
  });
  return [
    role("cluster-admin", [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }, { nonResourceURLs: ["*"], verbs: ["*"] }]),
    binding("cluster-admin", "system:masters"),
    role("system:discovery", [
      { nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], verbs: ["get"] },
    ]),
    binding("system:discovery", "system:authenticated"),
    role("system:basic-user", [{ apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], verbs: ["create"] }]),
    binding("system:basic-user", "system:authenticated"),
    role("system:public-info-viewer", [{ nonResourceURLs: ["/healthz", "/livez", "/readyz", "/version", "/version/"], verbs: ["get"] }]),
    binding("system:public-info-viewer", "system:authenticated"),
    role("system:service-account-issuer-discovery", [
      { nonResourceURLs: ["/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"], verbs: ["get"] },
    ]),
    binding("system:service-account-issuer-discovery", "system:serviceaccounts"),
  ];
}
