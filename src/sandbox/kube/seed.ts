import type { Cluster } from "./cluster.js";
import { SERVER_VERSION } from "./discovery.js";
import { bootstrapPolicy } from "./rbac.js";
import { kubeTime, type KubeObject } from "./types.js";

/** What a fresh cluster has, reconciled on every start: system namespaces, bootstrap RBAC, `kubernetes` Service, nodes. */

export interface KubeNodeSeed {
  name: string;
  providerID: string;
  internalIP: string;
  labels: Record<string, string>;
  /** Images the node holds, as a kubelet reports them (status.images): the sandbox's nodes hold podid's own. */
  images?: string[];
}

const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];
const SEEDER = "kube-apiserver";

function ensure(cluster: Cluster, object: KubeObject): void {
  const rt = cluster.resourceFor(object.apiVersion, object.kind);
  if (cluster.store.lookup(rt, object.metadata.namespace, object.metadata.name ?? "")) return;
  cluster.store.create(rt, object.metadata.namespace, object, { fieldManager: SEEDER });
}

function nodeObject(seed: KubeNodeSeed): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: seed.name,
      labels: {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": seed.name,
        ...seed.labels,
      },
      annotations: { "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true" },
    },
    spec: { providerID: seed.providerID },
  };
}

function nodeStatus(seed: KubeNodeSeed, now: string): Record<string, unknown> {
  const condition = (type: string, status: string, reason: string, message: string) => ({ type, status, lastHeartbeatTime: now, lastTransitionTime: now, reason, message });
  const resources = { cpu: "2", memory: "7097684Ki", pods: "110", "ephemeral-storage": "129886128Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0" };
  return {
    capacity: resources,
    allocatable: { ...resources, cpu: "1900m", memory: "5160788Ki", "ephemeral-storage": "119703055367" },
    conditions: [
      condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
      condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ],
    addresses: [
      { type: "InternalIP", address: seed.internalIP },
      { type: "Hostname", address: seed.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    ...(seed.images?.length ? { images: seed.images.map((name) => ({ names: [name], sizeBytes: 150_000_000 })) } : {}),
    nodeInfo: {
      machineID: "",
      systemUUID: "",
      bootID: "",
      kernelVersion: "5.15.0-1073-azure",
      osImage: "Ubuntu 22.04.5 LTS",
      containerRuntimeVersion: "containerd://1.7.22-1",
      kubeletVersion: SERVER_VERSION.gitVersion,
      kubeProxyVersion: SERVER_VERSION.gitVersion,
      operatingSystem: "linux",
      architecture: "amd64",
    },
  };
}

export function seedCluster(cluster: Cluster, nodes: KubeNodeSeed[]): void {
  for (const name of SYSTEM_NAMESPACES) ensure(cluster, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  for (const o of bootstrapPolicy()) ensure(cluster, o);
  cluster.serviceAccounts.resync();
  ensure(cluster, {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "kubernetes", namespace: "default", labels: { component: "apiserver", provider: "kubernetes" } },
    spec: { clusterIP: "10.0.0.1", ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: 443 }] },
  });
  const nodeType = cluster.resourceFor("v1", "Node");
  const now = kubeTime();
  for (const seed of nodes) {
    ensure(cluster, nodeObject(seed));
    // The kubelet posts status when it starts: Ready, with a fresh heartbeat.
    const live = cluster.store.get(nodeType, undefined, seed.name);
    cluster.store.update(nodeType, undefined, seed.name, { ...live, status: nodeStatus(seed, now) }, { subresource: "status", fieldManager: "kubelet" });
  }
}
