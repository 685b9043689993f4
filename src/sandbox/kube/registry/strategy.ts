import type { FieldError } from "../errors.js";
import type { KubeObject } from "../types.js";
import { dns1123Subdomain } from "../validation.js";

/**
 * What a kind brings to the generic store (kube-apiserver's RESTCreateStrategy, RESTUpdateStrategy,
 * RESTDeleteStrategy and the store's after-hooks): everything about a kind that is not the same for every kind.
 * Every hook is optional; a kind without one behaves as a plain stored object (a ConfigMap).
 */
export interface Strategy {
  /** How metadata.name is checked (ValidateObjectMeta's name function): a message per problem. */
  validateName(name: string): string[];
  /** Fields a fieldSelector may name besides metadata.name and metadata.namespace (the kind's GetAttrs). */
  selectableFields: string[];
  /** Set for custom resources: kube-apiserver words unknown field selectors differently for them. */
  custom?: boolean;
  /**
   * Decoding: what the server keeps of a written object (a custom object pruned to its schema). Throws the 400
   * that `fieldValidation=Strict` answers for what it would drop.
   */
  decode?(object: KubeObject, fieldValidation: string | undefined): KubeObject;
  /**
   * Decoding from storage: what every read (get, list, watch, the object an update starts from) returns of a stored
   * object. kube-apiserver's storage codec prunes a custom object to its schema as it is now, so fields stored
   * before the CRD had a schema vanish from reads at once, though storage keeps them until the next write.
   */
  fromStorage?(object: KubeObject): KubeObject;
  /**
   * Defaulting and PrepareForCreate: what creation fills in or resets. It runs again on what mutating admission
   * returns (the API server defaults a webhook's answer as it defaults a client's), so it must be idempotent.
   */
  prepareForCreate?(object: KubeObject): void;
  /** PrepareForUpdate of a main-resource write (not /status): what an update recomputes. */
  prepareForUpdate?(object: KubeObject, old: KubeObject): void;
  /** Validation beyond metadata, with kube-apiserver's field paths and wording. */
  validate?(object: KubeObject): FieldError[];
  /** ValidateUpdate's own part: what an update may not change (immutable fields), against the stored object. */
  validateUpdate?(object: KubeObject, old: KubeObject): FieldError[];
  /** Refuses a deletion outright (throws the KubeError), as a protected namespace's is. */
  checkDelete?(object: KubeObject): void;
  /** Seconds a deleted object stays, marked, before it goes (a pod its kubelet stops); 0 goes at once. */
  gracePeriodSeconds?(object: KubeObject, requested: number | undefined): number;
  /** Finalizers besides metadata.finalizers that hold a deletion (a namespace's spec.finalizers). */
  deletionFinalizers?(object: KubeObject): string[];
  /** What marking an object for deletion changes besides its deletionTimestamp (a namespace turns Terminating). */
  prepareForDelete?(object: KubeObject): void;
  afterCreate?(object: KubeObject): void;
  afterUpdate?(object: KubeObject): void;
  afterDelete?(object: KubeObject): void;
}

/** A stored kind with nothing of its own: names are DNS subdomains, only metadata fields select. */
export function plainStrategy(overrides: Partial<Strategy> = {}): Strategy {
  return { validateName: dns1123Subdomain, selectableFields: [], ...overrides };
}
