import { join } from "node:path";
import type { JWK } from "jose";
import { requestLogLine, serve } from "../http/server.js";
import { jwksUrlOf } from "../oidc.js";
import { loadOrCreateSigningKey } from "../signing-key.js";
import { JsonStore } from "../store.js";
import { newToken } from "./auth.js";
import { Cluster } from "./cluster.js";
import type { CreateAdmission } from "./registry/requests.js";
import { errorResponse } from "./codec.js";
import { kubeHandler, type PodLogSource } from "./handlers.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { KubeStore } from "./local-store.js";
import { seedCluster, type KubeNodeSeed } from "./seed.js";
import { DEFAULT_ISSUER, ServiceAccountIssuer } from "./service-account-tokens.js";
import { Storage, type KubeState } from "./storage.js";
import { WatchHub } from "./watch-stream.js";

/** The sandbox Kubernetes API server: HTTPS, bearer tokens, RBAC, state in `<dir>/state/kube.json`. */

export type { KubeNodeSeed } from "./seed.js";
export { KubeStore, type KindRef, type ObjectRef } from "./local-store.js";
export { isKubeStatus, KubeError, type Status } from "./errors.js";
export type { KubeObject, ObjectMeta, OwnerReference, ManagedFieldsEntry } from "./types.js";
export { kubeTime, SAFE_ALPHABET } from "./types.js";
export { Errors } from "./errors.js";
export type { WatchEvent, WatchOptions, ListOptions, WriteOptions, PatchOptions, PatchType, DeleteOptions, DeleteResult } from "./registry/requests.js";
export { matchesLabelSelector, type LabelSelector } from "./selectors.js";
export type { PodLogSource, PodLogQuery } from "./handlers.js";
export type { CreateAdmission } from "./registry/requests.js";
export { workloadIdentityWebhook, type WorkloadIdentityWebhookConfig } from "./admission/workload-identity-webhook.js";
export type { TokenRequestSpec } from "./token-request.js";
export { ControllerManager, templateHash, type ControllerContext } from "./controllers/manager.js";
export type { Node as NodeObject } from "./controllers/objects.js";

export interface StartKubeApiOptions {
  /** Sandbox dir: state under <dir>/state/kube.json, kubeconfig written to <dir>/kubeconfig (0600). */
  dir: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  tls: { cert: string; key: string };
  /** Written into the kubeconfig as certificate-authority-data. */
  caCertPem: string;
  /** The AKS cluster name: kubeconfig cluster and context are named after it. */
  clusterName: string;
  /** Created if missing on start, then marked Ready. */
  nodes: KubeNodeSeed[];
  log?: (line: string) => void;
  /** How many past events watches can resume from (default 1000); older resourceVersions get 410. */
  watchHistory?: number;
  /** Interval of BOOKMARK events for watches that allow them (default 15s). */
  bookmarkIntervalMs?: number;
  /** Serves `pods/{name}/log` (the kubelet's); without it, logs are "waiting to start". */
  podLogs?: PodLogSource;
  /**
   * The cluster's OIDC issuer URL while it is enabled (AKS's --service-account-issuer then), read on every token;
   * without one, tokens carry the default issuer, which stays accepted after the switch as on AKS.
   */
  oidcIssuer?: () => string | undefined;
  /** Time in epoch ms for issuing and checking tokens (the sandbox clock); default the real time. */
  now?: () => number;
  /** Mutating admission for new objects (the workload identity webhook). */
  admission?: CreateAdmission[];
}

export interface KubeApi {
  url: string;
  port: number;
  adminToken: string;
  kubeconfigPath: string;
  /** The bearer token of an existing ServiceAccount (what a pod gets mounted); throws if it does not exist. */
  tokenForServiceAccount(namespace: string, name: string): string;
  /** The public keys the API server signs service-account tokens with (what an OIDC issuer publishes). */
  signingKeys(): JWK[];
  store: KubeStore;
  /** Stops serving, ends watches, flushes state. */
  close(): Promise<void>;
}

function initialState(): KubeState {
  return { version: 1, resourceVersion: 0, objects: {}, adminToken: newToken(), serviceAccountTokens: {} };
}

export async function startKubeApi(options: StartKubeApiOptions): Promise<KubeApi> {
  const state = new JsonStore<KubeState>(join(options.dir, "state", "kube.json"), initialState);
  const storage = new Storage(state, options.watchHistory ?? 1000);
  const key = await loadOrCreateSigningKey(join(options.dir, "state", "sa-signing-key.json"));
  let url = "";
  const issuer = new ServiceAccountIssuer(
    key,
    () => {
      const oidc = options.oidcIssuer?.();
      return oidc
        ? { issuer: oidc, accepted: [oidc, DEFAULT_ISSUER], jwksUri: jwksUrlOf(oidc) }
        : { issuer: DEFAULT_ISSUER, accepted: [DEFAULT_ISSUER], jwksUri: `${url}/openid/v1/jwks` };
    },
    options.now ?? (() => Date.now()),
  );
  const cluster = new Cluster(storage, { serviceAccountIssuer: issuer, admission: options.admission });
  seedCluster(cluster, options.nodes);
  state.flush();
  const watches = new WatchHub();
  let address = `${options.host}:${options.port}`;
  const handler = kubeHandler({ cluster, watches, serverAddress: () => address, bookmarkIntervalMs: options.bookmarkIntervalMs ?? 15_000, podLogs: options.podLogs });
  const server = await serve(handler, {
    host: options.host,
    port: options.port,
    tls: options.tls,
    onError: (err) => errorResponse(err),
    onRequest: options.log ? (l) => options.log!(requestLogLine("kube", l)) : undefined,
  });
  address = `${options.host}:${server.port}`;
  url = `https://${options.host}:${server.port}`;
  const kubeconfigPath = join(options.dir, "kubeconfig");
  writeKubeconfig(kubeconfigPath, { clusterName: options.clusterName, server: url, caCertPem: options.caCertPem, token: storage.state.adminToken });
  const store = new KubeStore(cluster);
  options.log?.(`kubernetes API serving at ${url}`);
  return {
    url,
    port: server.port,
    adminToken: storage.state.adminToken,
    kubeconfigPath,
    tokenForServiceAccount: (namespace, name) => store.tokenForServiceAccount(namespace, name),
    signingKeys: () => issuer.jwks().keys,
    store,
    close: async () => {
      watches.closeAll();
      await server.close();
      state.flush();
    },
  };
}
