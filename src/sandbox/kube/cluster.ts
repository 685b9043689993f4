import { TokenAuthenticator } from "./auth.js";
import { namespaceLifecycle } from "./admission/namespace-lifecycle.js";
import { serviceAccountAdmission } from "./admission/service-account.js";
import { GarbageCollector } from "./controllers/garbage-collector.js";
import { NamespaceController } from "./controllers/namespace.js";
import { ServiceAccountController } from "./controllers/service-account.js";
import { resourcesOfCrd } from "./crd.js";
import { Errors } from "./errors.js";
import { builtinKinds } from "./kinds/index.js";
import type { CreateAdmission } from "./registry/requests.js";
import { Store } from "./registry/store.js";
import { ResourceRegistry, storageKey } from "./registry/resources.js";
import type { ServiceAccountIssuer } from "./service-account-tokens.js";
import type { Storage } from "./storage.js";
import type { KubeObject } from "./types.js";
import type { ResourceType } from "./registry/resources.js";

/**
 * The API server's inside, independent of HTTP: the served kinds (kinds/), the generic store over them, the
 * admission chain in front of every create (NamespaceLifecycle, ServiceAccount, then the configured webhooks), and
 * the controllers that act within a write (garbage collector, namespace, ServiceAccount). The HTTP handlers and the
 * in-process KubeStore both go through here, so the sandbox kubelet sees exactly what clients see.
 */

export interface ClusterOptions {
  serviceAccountIssuer: ServiceAccountIssuer;
  admission?: CreateAdmission[];
}

export class Cluster {
  readonly registry: ResourceRegistry;
  readonly store: Store;
  readonly tokens: TokenAuthenticator;
  readonly serviceAccountIssuer: ServiceAccountIssuer;
  readonly serviceAccounts: ServiceAccountController;

  constructor(
    readonly storage: Storage,
    options: ClusterOptions,
  ) {
    this.serviceAccountIssuer = options.serviceAccountIssuer;
    this.tokens = new TokenAuthenticator(storage, options.serviceAccountIssuer);
    const registry: ResourceRegistry = new ResourceRegistry(builtinKinds({ storage, registry: (): ResourceRegistry => registry }));
    this.registry = registry;
    const webhooks = (options.admission ?? []).map((admit) => (rt: ResourceType, object: KubeObject) => admit(rt, object, storage));
    this.store = new Store(storage, registry, [namespaceLifecycle(storage), serviceAccountAdmission(storage), ...webhooks]);
    this.serviceAccounts = new ServiceAccountController(this.store, this.tokens);
    for (const controller of [new GarbageCollector(this.store), new NamespaceController(this.store), this.serviceAccounts]) this.store.observe(controller.observe);
    for (const crd of storage.list(storageKey({ group: "apiextensions.k8s.io", plural: "customresourcedefinitions" }))) {
      registry.setCustom(crd.metadata.name ?? "", resourcesOfCrd(crd));
    }
  }

  /** The served resource for an apiVersion and kind (404 when nothing serves it). */
  resourceFor(apiVersion: string, kind: string): ResourceType {
    const rt = this.registry.byKind(apiVersion, kind);
    if (!rt) throw Errors.pathNotFound();
    return rt;
  }
}
