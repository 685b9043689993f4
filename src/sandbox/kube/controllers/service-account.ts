import type { TokenAuthenticator } from "../auth.js";
import type { Store } from "../registry/store.js";
import type { CommittedWrite } from "../registry/requests.js";

/**
 * The ServiceAccount controller and the legacy token controller: every namespace has a `default` ServiceAccount,
 * and every ServiceAccount a long-lived bearer token (what the sandbox kubelet mounts), revoked with it. Run inside
 * the write that triggers it, so a namespace's `default` exists as soon as the namespace does.
 */

const MANAGER = "kube-controller-manager";

export class ServiceAccountController {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokenAuthenticator,
  ) {}

  readonly observe = (write: CommittedWrite): void => {
    const { rt, object } = write;
    if (rt.group !== "") return;
    if (rt.plural === "namespaces" && write.type === "ADDED") this.ensureDefault(object.metadata.name ?? "");
    if (rt.plural === "serviceaccounts" && write.type === "ADDED") this.tokens.ensureServiceAccountToken(object.metadata.namespace ?? "", object.metadata.name ?? "");
    if (rt.plural === "serviceaccounts" && write.type === "DELETED") this.tokens.revokeServiceAccountToken(object.metadata.namespace ?? "", object.metadata.name ?? "");
  };

  /** Brings stored state up to the rule (state written by older versions may lack a `default` or a token). */
  resync(): void {
    for (const ns of this.store.storage.list("namespaces")) this.ensureDefault(ns.metadata.name ?? "");
    for (const sa of this.store.storage.list("serviceaccounts")) this.tokens.ensureServiceAccountToken(sa.metadata.namespace ?? "", sa.metadata.name ?? "");
  }

  private ensureDefault(namespace: string): void {
    const ns = this.store.storage.get("namespaces", undefined, namespace);
    if (!ns || ns.metadata.deletionTimestamp || this.store.storage.get("serviceaccounts", namespace, "default")) return;
    const sa = this.store.registry.byPlural("", "v1", "serviceaccounts")!;
    this.store.create(sa, namespace, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace } }, { fieldManager: MANAGER });
  }
}
