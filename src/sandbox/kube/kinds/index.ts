import type { KindSpec } from "../registry/resources.js";
import { cronJobs, jobs } from "./batch.js";
import { customResourceDefinitions, type CrdDeps } from "./custom-resources.js";
import { namespaces } from "./namespace.js";
import { configMaps, endpoints, events, leases, networkPolicies, nodes, secrets } from "./plain.js";
import { pods } from "./pod.js";
import { clusterRoleBindings, clusterRoles, roleBindings, roles } from "./rbac.js";
import { selfSubjectAccessReviews, subjectAccessReviews } from "./reviews.js";
import { serviceAccounts } from "./service-account.js";
import { services } from "./service.js";
import { daemonSets, deployments, replicaSets, statefulSets } from "./workloads.js";

/** The built-in kinds the API server serves, in discovery order (core first, then each group as it first appears). */
export function builtinKinds(deps: CrdDeps): KindSpec[] {
  return [
    namespaces,
    nodes,
    pods,
    serviceAccounts,
    secrets,
    configMaps,
    events,
    endpoints,
    services(deps.storage),
    deployments,
    daemonSets,
    replicaSets,
    statefulSets,
    jobs,
    cronJobs,
    clusterRoles,
    clusterRoleBindings,
    roles,
    roleBindings,
    leases,
    networkPolicies,
    customResourceDefinitions(deps),
    selfSubjectAccessReviews,
    subjectAccessReviews,
  ];
}
