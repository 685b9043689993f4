import type { KindSpec } from "../registry/resources.js";
import { plainStrategy } from "../registry/strategy.js";

/** SelfSubjectAccessReview and SubjectAccessReview: answered on create from RBAC (review.ts), never stored. */

function review(kind: string, plural: string): KindSpec {
  return { group: "authorization.k8s.io", version: "v1", kind, plural, namespaced: false, verbs: ["create"], virtual: true, strategy: plainStrategy() };
}

export const selfSubjectAccessReviews = review("SelfSubjectAccessReview", "selfsubjectaccessreviews");
export const subjectAccessReviews = review("SubjectAccessReview", "subjectaccessreviews");
