import type { KindSpec } from "../registry/resources.js";
import { plainStrategy, type Strategy } from "../registry/strategy.js";
import { isPlainObject } from "../types.js";
import { pathSegmentName } from "../validation.js";

/** rbac.authorization.k8s.io/v1: names only need to be path segments; a binding needs its role. */

const roleStrategy = plainStrategy({ validateName: pathSegmentName });

const bindingStrategy: Strategy = plainStrategy({
  validateName: pathSegmentName,
  validate: (o) => (isPlainObject(o.roleRef) && o.roleRef.name ? [] : [{ type: "FieldValueRequired", field: "roleRef.name" }]),
});

function rbacKind(kind: string, plural: string, namespaced: boolean, strategy: Strategy): KindSpec {
  return { group: "rbac.authorization.k8s.io", version: "v1", kind, plural, namespaced, strategy };
}

export const clusterRoles = rbacKind("ClusterRole", "clusterroles", false, roleStrategy);
export const clusterRoleBindings = rbacKind("ClusterRoleBinding", "clusterrolebindings", false, bindingStrategy);
export const roles = rbacKind("Role", "roles", true, roleStrategy);
export const roleBindings = rbacKind("RoleBinding", "rolebindings", true, bindingStrategy);
