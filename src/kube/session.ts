import { existsSync } from "node:fs";
import { PassThrough, type Writable } from "node:stream";
import { CoreV1Api, KubernetesObjectApi, Log, PatchStrategy, type Configuration, type KubeConfig, type KubernetesObject, type V1APIResource } from "@kubernetes/client-node";
import { UsageCode, UsageError } from "../errors/index.js";
import { fromKubeError, isKubeNotFound } from "./errors.js";
import { LiteKubeClient } from "./lite/client.js";
import { PooledKubeConfig } from "./pooled-config.js";
import { endpointOf } from "./lite/from-kubeconfig.js";

/** The field manager podid's server-side applies write as. */
/** The field manager podid applies as (server-side apply, and its other writes). */
export const FIELD_MANAGER = "podid";

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export type ApplyResult = "created" | "updated" | "unchanged";

export interface PodLogOptions {
  container?: string;
  /** Wait for the container to end and return everything it wrote (kubectl logs -f). */
  follow?: boolean;
  tailLines?: number;
}

/** One kubeconfig context: the server, the namespace commands default to, and typed access. */
export class KubeSession {
  readonly objects: KubernetesObjectApi;

  constructor(
    readonly config: KubeConfig,
    /** -n, else the context's namespace, else "default" (kubectl's rule). */
    readonly namespace: string,
  ) {
    this.objects = JoinedDiscoveryApi.of(config);
  }

  private lite?: LiteKubeClient;

  /** The lean client the list+watch caches use (one keep-alive agent, no generated models). */
  get watchClient(): LiteKubeClient {
    if (!this.lite) {
      try {
        this.lite = new LiteKubeClient(endpointOf(this.config));
      } catch (err) {
        throw new UsageError((err as Error).message, "Give the runtime a kubeconfig with a token or client certificate (in a pod: its ServiceAccount).", UsageCode.KubeconfigInvalid);
      }
    }
    return this.lite;
  }

  get server(): string {
    return this.config.getCurrentCluster()?.server ?? "(no server)";
  }

  async read<T extends KubernetesObject>(header: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<T | undefined> {
    try {
      return (await this.objects.read(header as never)) as T;
    } catch (err) {
      if (isKubeNotFound(err)) return undefined;
      throw fromKubeError(err, `reading ${header.kind} ${header.metadata.name}`, this.server);
    }
  }

  /**
   * Server-side apply as field manager `podid`. Created/updated/unchanged comes from what the server did: an
   * apply that changes nothing leaves the resourceVersion as it was.
   */
  async apply<T extends KubernetesObject>(object: T, options: { dryRun?: boolean } = {}): Promise<{ object: T; result: ApplyResult }> {
    const meta = object.metadata!;
    const before = await this.read<T>({ apiVersion: object.apiVersion!, kind: object.kind!, metadata: { name: meta.name!, namespace: meta.namespace } });
    try {
      // A server-side dry run (dryRun=All) is validated as the write would be, and stores nothing.
      const after = (await this.objects.patch(object, undefined, options.dryRun ? "All" : undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply)) as T;
      const result: ApplyResult = !before ? "created" : before.metadata?.resourceVersion === after.metadata?.resourceVersion ? "unchanged" : "updated";
      return { object: after, result };
    } catch (err) {
      throw fromKubeError(err, `applying ${object.kind} ${meta.namespace ? meta.namespace + "/" : ""}${meta.name}`, this.server);
    }
  }

  /**
   * A JSON merge patch of one object's annotations (null removes one), as field manager `podid`: for a record kept
   * beside what server-side apply owns. Undefined when the object does not exist.
   */
  async patchAnnotations<T extends KubernetesObject>(header: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }, annotations: Record<string, string | null>): Promise<T | undefined> {
    try {
      return (await this.objects.patch({ ...header, metadata: { ...header.metadata, annotations } } as never, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch)) as T;
    } catch (err) {
      if (isKubeNotFound(err)) return undefined;
      throw fromKubeError(err, `annotating ${header.kind} ${header.metadata.namespace ? header.metadata.namespace + "/" : ""}${header.metadata.name}`, this.server);
    }
  }

  /** Lists objects of a kind in a namespace (all namespaces when undefined), optionally by label selector. */
  async list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
    try {
      const items: T[] = [];
      let next: string | undefined;
      do {
        const page = await this.objects.list<T>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector, 500, next);
        items.push(...page.items);
        next = page.metadata?._continue || undefined;
      } while (next);
      return items;
    } catch (err) {
      throw fromKubeError(err, `listing ${kind}${namespace ? ` in ${namespace}` : " in all namespaces"}`, this.server);
    }
  }

  /** A container's output, as `kubectl logs` shows it (GET .../pods/NAME/log). */
  async podLog(namespace: string, name: string, options: PodLogOptions = {}): Promise<string> {
    try {
      const core = this.config.makeApiClient(CoreV1Api);
      return await core.readNamespacedPodLog({ name, namespace, container: options.container, follow: options.follow, tailLines: options.tailLines });
    } catch (err) {
      throw fromKubeError(err, `reading the log of pod ${namespace}/${name}`, this.server);
    }
  }

  /** Streams a container's output to `out` as it is written, until the container ends (kubectl logs -f). */
  async followPodLog(namespace: string, name: string, out: Writable, options: Omit<PodLogOptions, "follow"> = {}): Promise<void> {
    // A plain read first: it fails with the API server's own message (not found, waiting to start, which container).
    await this.podLog(namespace, name, { container: options.container, tailLines: 0 });
    const container = options.container ?? (await this.config.makeApiClient(CoreV1Api).readNamespacedPod({ name, namespace })).spec?.containers[0]?.name ?? "";
    const stream = new PassThrough();
    stream.pipe(out, { end: false });
    const ended = new Promise<void>((resolve, reject) => stream.once("end", resolve).once("error", reject));
    try {
      await new Log(this.config).log(namespace, name, container, stream, { follow: true, ...(options.tailLines !== undefined ? { tailLines: options.tailLines } : {}) });
    } catch (err) {
      throw fromKubeError(err, `following the log of pod ${namespace}/${name}`, this.server);
    }
    await ended;
  }

  /** Deletes it; true when it existed. */
  async delete(header: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<boolean> {
    try {
      await this.objects.delete(header as never);
      return true;
    } catch (err) {
      if (isKubeNotFound(err)) return false;
      throw fromKubeError(err, `deleting ${header.kind} ${header.metadata.name}`, this.server);
    }
  }
}

/**
 * client-node keeps a group version's resource list once it has read it, but reads made together each read it
 * (doctor's parallel reads asked for /api/v1 four times): a read that finds one under way waits for it, then asks
 * the (now filled) cache.
 */
class JoinedDiscoveryApi extends KubernetesObjectApi {
  private readonly underWay = new Map<string, Promise<unknown>>();

  /** As KubernetesObjectApi.makeApiClient makes one. */
  static of(config: KubeConfig): JoinedDiscoveryApi {
    const api = config.makeApiClient(JoinedDiscoveryApi);
    api.setDefaultNamespace(config);
    return api;
  }

  protected override async resource(apiVersion: string, kind: string, options?: Configuration): Promise<V1APIResource | undefined> {
    const pending = this.underWay.get(apiVersion);
    if (pending) await pending.catch(() => undefined);
    const asking = super.resource(apiVersion, kind, options);
    if (!this.underWay.has(apiVersion)) {
      this.underWay.set(apiVersion, asking);
      void asking.finally(() => this.underWay.delete(apiVersion)).catch(() => undefined);
    }
    return asking;
  }
}

/** --kubeconfig, else KUBECONFIG, else ~/.kube/config; --context, else the current context. */
export function openKubeSession(options: KubeOptions = {}, env: NodeJS.ProcessEnv = process.env): KubeSession {
  const config = new PooledKubeConfig();
  const file = options.kubeconfig ?? env.KUBECONFIG;
  if (options.kubeconfig && !existsSync(options.kubeconfig)) {
    throw new UsageError(`kubeconfig '${options.kubeconfig}' does not exist`, "Give the path of a kubeconfig file, or omit --kubeconfig to use KUBECONFIG or ~/.kube/config.", UsageCode.KubeconfigNotFound);
  }
  try {
    if (file) config.loadFromFile(file.split(":")[0]);
    else config.loadFromDefault();
  } catch (err) {
    throw new UsageError(`cannot read kubeconfig: ${(err as Error).message.split("\n")[0]}`, "Check --kubeconfig or KUBECONFIG; `az aks get-credentials` writes one.", UsageCode.KubeconfigInvalid);
  }
  if (options.context) {
    if (!config.getContextObject(options.context)) {
      const known = config.getContexts().map((c) => c.name).join(", ") || "none";
      throw new UsageError(`context '${options.context}' is not in the kubeconfig`, `Use one of: ${known}.`, UsageCode.UnknownContext);
    }
    config.setCurrentContext(options.context);
  }
  if (!config.getCurrentCluster()) {
    throw new UsageError("the kubeconfig has no current cluster", "Pass --context, or set one with `kubectl config use-context`.", UsageCode.NoCurrentContext);
  }
  const contextNamespace = config.getContextObject(config.getCurrentContext())?.namespace;
  return new KubeSession(config, options.namespace ?? contextNamespace ?? "default");
}
