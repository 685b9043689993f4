import type { RequestAttributes, UserInfo } from "./rbac.js";
import type { KubeObject } from "./types.js";
import { isPlainObject } from "./types.js";

/**
 * SelfSubjectAccessReview and SubjectAccessReview (authorization.k8s.io/v1): answered from the same RBAC
 * evaluation as requests, never stored. `kubectl auth can-i` uses the first.
 */

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

export function reviewAccess(
  kind: string,
  review: KubeObject,
  caller: UserInfo,
  decide: (user: UserInfo, attributes: RequestAttributes) => boolean,
): KubeObject {
  const spec = isPlainObject(review.spec) ? review.spec : {};
  const user: UserInfo = kind === "SubjectAccessReview" ? { name: String(spec.user ?? ""), groups: (spec.groups as string[] | undefined) ?? [] } : caller;
  const ra = (isPlainObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined) as ResourceAttributes | undefined;
  const nra = isPlainObject(spec.nonResourceAttributes) ? (spec.nonResourceAttributes as { path?: string; verb?: string }) : undefined;
  const attributes: RequestAttributes = ra
    ? { verb: ra.verb ?? "", isResourceRequest: true, path: "", group: ra.group ?? "", resource: ra.resource ?? "", subresource: ra.subresource ?? "", namespace: ra.namespace ?? "", name: ra.name ?? "" }
    : { verb: nra?.verb ?? "", isResourceRequest: false, path: nra?.path ?? "", group: "", resource: "", subresource: "", namespace: "", name: "" };
  const allowed = decide(user, attributes);
  const status: Record<string, unknown> = { allowed };
  if (allowed) status.reason = "RBAC: allowed";
  return { ...review, apiVersion: "authorization.k8s.io/v1", kind, metadata: {}, status };
}
