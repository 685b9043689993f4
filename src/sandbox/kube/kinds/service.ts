import type { KindSpec } from "../registry/resources.js";
import type { Storage } from "../storage.js";
import { isPlainObject, type KubeObject } from "../types.js";
import { dns1035Label } from "../validation.js";
import { child } from "./pod-spec.js";

/** Services: names are DNS-1035 labels; cluster IPs come from AKS's default service CIDR (10.0.0.0/16; 10.0.0.1 is `kubernetes`). */

function defaultService(service: KubeObject, allocateIp: () => string): void {
  const spec = child(service, "spec");
  spec.type ??= "ClusterIP";
  spec.sessionAffinity ??= "None";
  if (spec.type !== "ExternalName") {
    if (spec.clusterIP === undefined || spec.clusterIP === "") spec.clusterIP = allocateIp();
    spec.clusterIPs ??= [spec.clusterIP];
    spec.ipFamilies ??= ["IPv4"];
    spec.ipFamilyPolicy ??= "SingleStack";
    spec.internalTrafficPolicy ??= "Cluster";
  }
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isPlainObject(p)) continue;
      p.protocol ??= "TCP";
      p.targetPort ??= p.port;
    }
  }
  service.status ??= { loadBalancer: {} };
}

/** The next free address of the service CIDR (the ClusterIP allocator). */
function ipAllocator(storage: Storage): () => string {
  let counter = 0;
  return () => {
    const used = new Set(storage.list("services").map((s) => (s.spec as { clusterIP?: string } | undefined)?.clusterIP));
    for (;;) {
      const n = 10 + counter++;
      const ip = `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
      if (!used.has(ip)) return ip;
    }
  };
}

export function services(storage: Storage): KindSpec {
  const allocateIp = ipAllocator(storage);
  return {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    namespaced: true,
    shortNames: ["svc"],
    categories: ["all"],
    status: true,
    listRules: { "spec.ports": { type: "map", keys: ["port", "protocol"] } },
    strategy: { validateName: dns1035Label, selectableFields: [], prepareForCreate: (o) => defaultService(o, allocateIp) },
  };
}
