import type { KindSpec, ResourceRegistry } from "../registry/resources.js";
import { storageKey } from "../registry/resources.js";
import { acceptedStatus, defaultCrd, resourcesOfCrd, validateCrd } from "../crd.js";
import type { Storage } from "../storage.js";
import { kubeTime, type KubeObject } from "../types.js";
import { dns1123Subdomain } from "../validation.js";

/**
 * CustomResourceDefinitions: defaulted and accepted at once (the apiextensions controllers' settled status), and
 * served as soon as they are stored; deleting one deletes its objects.
 */

export interface CrdDeps {
  storage: Storage;
  /** The registry the CRD's resources are served from (made after the kinds, so asked for late). */
  registry(): ResourceRegistry;
}

function removeObjects(deps: CrdDeps, crd: KubeObject): void {
  const types = resourcesOfCrd(crd);
  deps.registry().setCustom(crd.metadata.name ?? "", []);
  if (!types.length) return;
  const bucket = storageKey(types[0]);
  for (const o of deps.storage.list(bucket)) deps.storage.remove(bucket, o);
  deps.storage.dropBucket(bucket);
}

export function customResourceDefinitions(deps: CrdDeps): KindSpec {
  const serve = (crd: KubeObject) => deps.registry().setCustom(crd.metadata.name ?? "", resourcesOfCrd(crd));
  return {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    namespaced: false,
    shortNames: ["crd", "crds"],
    categories: ["api-extensions"],
    status: true,
    generation: true,
    strategy: {
      validateName: dns1123Subdomain,
      selectableFields: [],
      prepareForCreate(o) {
        defaultCrd(o);
        o.status = acceptedStatus(o, o.metadata.creationTimestamp ?? kubeTime());
      },
      prepareForUpdate(o, old) {
        defaultCrd(o);
        o.status = acceptedStatus(o, kubeTime(), old.status);
      },
      validate: validateCrd,
      afterCreate: serve,
      afterUpdate: serve,
      afterDelete: (o) => removeObjects(deps, o),
    },
  };
}
