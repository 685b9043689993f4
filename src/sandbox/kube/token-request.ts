import type { Cluster } from "./cluster.js";
import { Errors } from "./errors.js";
import { API_AUDIENCES, type BoundRef } from "./service-account-tokens.js";
import { isPlainObject, kubeTime, type KubeObject } from "./types.js";

/** What `serviceaccounts/{name}/token` takes (authentication.k8s.io/v1 TokenRequestSpec). */
export interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds?: number;
  boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string } | null;
}

export const DEFAULT_EXPIRATION_SECONDS = 3600;
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;

const TOKEN_REQUEST = { group: "authentication.k8s.io", kind: "TokenRequest" };
const BINDABLE: Record<string, string> = { Pod: "pods", Secret: "secrets", Node: "nodes" };

function invalid(name: string, field: string, value: unknown, detail: string) {
  return Errors.invalid(TOKEN_REQUEST, name, [{ type: "FieldValueInvalid", field, value, detail }]);
}

/**
 * TokenRequest, as kube-apiserver's serviceaccount token REST storage answers it: validation of the spec
 * (expirationSeconds at least 10 minutes, audiences default to the API server's), the bound object (Pod, Secret or
 * Node, which must exist, with the uid given if one is, and a pod must run as this ServiceAccount), then a signed JWT.
 */
export async function requestToken(cluster: Cluster, namespace: string, name: string, input: unknown): Promise<KubeObject> {
  const saType = cluster.resourceFor("v1", "ServiceAccount");
  const sa = cluster.store.get(saType, namespace, name);
  const spec = (isPlainObject(input) && isPlainObject(input.spec) ? input.spec : {}) as TokenRequestSpec;
  const expirationSeconds = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
  if (!Number.isInteger(expirationSeconds)) throw Errors.badRequest(`json: cannot unmarshal ${typeof expirationSeconds} into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64`);
  if (expirationSeconds < MIN_EXPIRATION_SECONDS) throw invalid(name, "spec.expirationSeconds", expirationSeconds, "may not specify a duration less than 10 minutes");
  if (expirationSeconds > MAX_EXPIRATION_SECONDS) throw invalid(name, "spec.expirationSeconds", expirationSeconds, "may not specify a duration larger than 2^32 seconds");
  const audiences = spec.audiences?.length ? spec.audiences : API_AUDIENCES;
  if (!audiences.every((a) => typeof a === "string")) throw Errors.badRequest("json: cannot unmarshal into Go struct field TokenRequestSpec.spec.audiences of type string");

  const bound: { pod?: BoundRef; node?: BoundRef; secret?: BoundRef } = {};
  const ref = spec.boundObjectRef;
  if (ref) {
    const kind = ref.kind ?? "";
    const plural = BINDABLE[kind];
    if (!plural || (ref.apiVersion ?? "v1") !== "v1") throw Errors.badRequest(`cannot bind token to object of type ${ref.apiVersion ?? "v1"}, Kind=${kind}`);
    const rt = cluster.resourceFor("v1", kind);
    const object = cluster.store.get(rt, kind === "Node" ? undefined : namespace, ref.name ?? "");
    const uid = object.metadata.uid ?? "";
    if (ref.uid && ref.uid !== uid) {
      throw Errors.conflict({ group: "", resource: kind }, ref.name ?? "", `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    }
    if (kind === "Pod") {
      const podSa = (object.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? "default";
      if (podSa !== name) throw Errors.badRequest(`cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`);
      bound.pod = { name: object.metadata.name ?? "", uid };
      const nodeName = (object.spec as { nodeName?: string } | undefined)?.nodeName;
      const node = nodeName ? cluster.storage.get("nodes", undefined, nodeName) : undefined;
      if (node) bound.node = { name: nodeName!, uid: node.metadata.uid ?? "" };
    } else if (kind === "Secret") bound.secret = { name: object.metadata.name ?? "", uid };
    else bound.node = { name: object.metadata.name ?? "", uid };
  }

  const { token, expiresAtMs } = await cluster.serviceAccountIssuer.sign({
    namespace,
    serviceAccount: { name, uid: sa.metadata.uid ?? "" },
    audiences,
    expirationSeconds,
    ...bound,
  });
  return {
    kind: "TokenRequest",
    apiVersion: "authentication.k8s.io/v1",
    metadata: { name, namespace, creationTimestamp: null as unknown as string },
    spec: { audiences, expirationSeconds, boundObjectRef: ref ?? null },
    status: { token, expirationTimestamp: kubeTime(expiresAtMs) },
  };
}
