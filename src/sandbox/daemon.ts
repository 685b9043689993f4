import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_VERSION } from "../util/package-info.js";
import { DEFAULT_RUNTIME_IMAGE, DEMO_IMAGE } from "../render/install.js";
import { SECRET_FILE_MODE, writeFileAtomic } from "../util/files.js";
import { createLogger } from "../util/logger.js";
import { startAzureCloud, type AzureCloud } from "./azure/index.js";
import { planTopology } from "./azure/seed.js";
import type { SeedInfo } from "./azure/model.js";
import { sandboxCloudProfile } from "./cloud-profile.js";
import { startKubeApi, workloadIdentityWebhook, type KubeApi } from "./kube/index.js";
import { nodeRoot, startKubelet, type Kubelet } from "./kubelet/index.js";
import { claimNetwork, type NetworkClaim } from "./network-claim.js";
import { nodeCloudConfig } from "./node-config.js";
import { sandboxLayout, type SandboxLayout, type SandboxRuntimeInfo } from "./layout.js";
import { createCertificateAuthority, issueServerCertificate } from "./pki.js";

export interface DaemonOptions {
  dir: string;
  nodes: number;
  replicationDelaySeconds?: number;
}

interface Ports {
  entra: number;
  arm: number;
  kube: number;
  imds: number[];
  /** Absent in sandboxes made before the OIDC issuer host. */
  oidcIssuer?: number;
}

/** The AKS workload identity add-on's proxy-init image (the sandbox kubelet applies its effect itself). */
const PROXY_INIT_IMAGE = "mcr.microsoft.com/oss/azure/workload-identity/proxy-init:v1.5.1";

const HOST = "127.0.0.1";

async function ensurePki(layout: SandboxLayout): Promise<{ caCert: string; cert: string; key: string }> {
  if (!existsSync(layout.caCert) || !existsSync(layout.caKey)) {
    const ca = await createCertificateAuthority("podid sandbox CA");
    writeFileAtomic(layout.caKey, ca.keyPem, SECRET_FILE_MODE);
    writeFileAtomic(layout.caCert, ca.certPem);
    rmSync(layout.tlsCert, { force: true });
  }
  const caCert = readFileSync(layout.caCert, "utf8");
  if (!existsSync(layout.tlsCert) || !existsSync(layout.tlsKey)) {
    const server = await issueServerCertificate(
      { certPem: caCert, keyPem: readFileSync(layout.caKey, "utf8") },
      { dns: ["localhost"], ips: [HOST] },
    );
    writeFileAtomic(layout.tlsKey, server.keyPem, SECRET_FILE_MODE);
    writeFileAtomic(layout.tlsCert, server.certPem, SECRET_FILE_MODE);
  }
  return { caCert, cert: readFileSync(layout.tlsCert, "utf8"), key: readFileSync(layout.tlsKey, "utf8") };
}

/**
 * The topology is fixed when the sandbox is first made; --nodes only applies to a fresh one. Its loopback network
 * is claimed for as long as this process runs.
 */
function loadTopology(layout: SandboxLayout, nodes: number): { topology: SeedInfo; claim: NetworkClaim } {
  if (existsSync(layout.topology)) {
    const topology = JSON.parse(readFileSync(layout.topology, "utf8")) as SeedInfo;
    const network = topology.network;
    if (network === undefined) throw new Error(`the sandbox in ${layout.dir} was made by an older podid whose nodes cannot run pods: start it with --fresh`);
    return { topology, claim: claimNetwork(network) };
  }
  const claim = claimNetwork(undefined);
  const topology = planTopology({ nodes, network: claim.network });
  writeFileAtomic(layout.topology, JSON.stringify(topology, null, 2), SECRET_FILE_MODE);
  return { topology, claim };
}

function savedPorts(layout: SandboxLayout, nodeCount: number): Ports {
  if (existsSync(layout.ports)) {
    const p = JSON.parse(readFileSync(layout.ports, "utf8")) as Ports;
    if (p.imds.length === nodeCount) return p;
  }
  return { entra: 0, arm: 0, kube: 0, imds: Array.from({ length: nodeCount }, () => 0) };
}

function isAddressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "EADDRINUSE";
}

/** Reuses last run's ports so exported environments stay valid; falls back to free ports if taken. */
async function withPortFallback<T>(start: (ports: Ports) => Promise<T>, ports: Ports): Promise<T> {
  try {
    return await start(ports);
  } catch (err) {
    if (!isAddressInUse(err)) throw err;
    return start({ entra: 0, arm: 0, kube: 0, oidcIssuer: 0, imds: ports.imds.map(() => 0) });
  }
}

function nodeLabels(seed: SeedInfo, name: string): Record<string, string> {
  return {
    agentpool: "nodepool1",
    "kubernetes.azure.com/agentpool": "nodepool1",
    "kubernetes.azure.com/cluster": seed.nodeResourceGroup,
    "kubernetes.azure.com/mode": "system",
    "kubernetes.io/arch": "amd64",
    "kubernetes.io/hostname": name,
    "kubernetes.io/os": "linux",
    "kubernetes.io/role": "agent",
    "node.kubernetes.io/instance-type": "Standard_DS2_v2",
    "topology.kubernetes.io/region": seed.location,
    "topology.kubernetes.io/zone": "0",
  };
}

/**
 * The sandbox process: the local cloud and cluster, until SIGTERM. Calls `ready` once everything serves and
 * the files clients need are written.
 */
export async function runSandbox(options: DaemonOptions, ready: (info: SandboxRuntimeInfo) => void): Promise<void> {
  const layout = sandboxLayout(options.dir);
  mkdirSync(layout.state, { recursive: true, mode: 0o700 });
  const logger = createLogger("info", (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  const tls = await ensurePki(layout);
  const { topology, claim } = loadTopology(layout, options.nodes);
  process.once("exit", () => claim.release());
  let cloud: AzureCloud | undefined;
  let kube: KubeApi | undefined;
  let kubelet: Kubelet | undefined;
  const shutdown = async (signal: string) => {
    logger.info(`sandbox stopping (${signal})`);
    rmSync(layout.runtime, { force: true });
    await kubelet?.close();
    await kube?.close();
    await cloud?.close();
    logger.info("sandbox stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));

  const ports = savedPorts(layout, topology.nodes.length);
  cloud = await withPortFallback(
    (p) =>
      startAzureCloud({
        dir: layout.dir,
        host: HOST,
        ports: { entra: p.entra, arm: p.arm, imds: p.imds, oidcIssuer: p.oidcIssuer },
        tls: { cert: tls.cert, key: tls.key },
        trustedCa: tls.caCert,
        seed: () => topology,
        log: (line) => logger.info(line),
      }),
    ports,
  );
  if (options.replicationDelaySeconds !== undefined) cloud.setReplicationDelay(options.replicationDelaySeconds);
  const seed = cloud.seed;
  const azure = cloud;
  kube = await withPortFallback(
    (p) =>
      startKubeApi({
        dir: layout.dir,
        host: HOST,
        port: p.kube,
        tls: { cert: tls.cert, key: tls.key },
        caCertPem: tls.caCert,
        clusterName: seed.clusterName,
        nodes: seed.nodes.map((n) => ({
          name: n.name,
          providerID: `azure://${n.vmId}`,
          internalIP: n.internalIP,
          labels: nodeLabels(seed, n.name),
          // What the nodes can run (kubelet/images.ts), as nodes report the images they hold.
          images: [`${DEFAULT_RUNTIME_IMAGE}:${PACKAGE_VERSION}`, `${DEMO_IMAGE}:${PACKAGE_VERSION}`],
        })),
        log: (line) => logger.info(line),
        podLogs: (namespace, name, query, signal) => {
          if (!kubelet) throw new Error("the kubelet is not running yet");
          return kubelet.podLogs(namespace, name, query, signal);
        },
        // AKS: the cluster's OIDC issuer becomes the service-account issuer once enabled, and its add-on webhook
        // mutates pods once workload identity is enabled.
        oidcIssuer: () => azure.clusterIdentity().issuerURL,
        now: () => azure.clock.now(),
        admission: [
          workloadIdentityWebhook({
            enabled: () => azure.clusterIdentity().workloadIdentity,
            tenantId: azure.cliCredential.tenantId,
            authorityHost: `${azure.endpoints.entra}/`,
            proxyInitImage: PROXY_INIT_IMAGE,
            proxyImage: `${DEFAULT_RUNTIME_IMAGE}:${PACKAGE_VERSION}`,
          }),
        ],
      }),
    { ...ports },
  );
  cloud.publishIssuerKeys(kube.signingKeys());
  const imdsPorts = seed.nodes.map((n) => Number(new URL(cloud!.endpoints.imds[n.name]).port));
  writeFileAtomic(
    layout.ports,
    JSON.stringify({
      entra: Number(new URL(cloud.endpoints.entra).port),
      arm: Number(new URL(cloud.endpoints.arm).port),
      kube: kube.port,
      imds: imdsPorts,
      oidcIssuer: Number(new URL(cloud.endpoints.oidcIssuer).port),
    } satisfies Ports),
  );
  writeFileAtomic(
    layout.cloudProfile,
    JSON.stringify(sandboxCloudProfile({ activeDirectory: cloud.endpoints.entra, resourceManager: cloud.endpoints.arm }), null, 2),
  );
  writeFileAtomic(layout.clientSecret, cloud.cliCredential.clientSecret, SECRET_FILE_MODE);
  // What AKS writes on every node and MIC reads through its hostPath mount.
  const azureJson = JSON.stringify(nodeCloudConfig(cloud.state), null, 2);
  for (const n of seed.nodes) writeFileAtomic(join(nodeRoot(layout.dir, n.name), "etc", "kubernetes", "azure.json"), azureJson, SECRET_FILE_MODE);
  kubelet = await startKubelet({
    store: kube.store,
    dir: layout.dir,
    nodes: seed.nodes.map((n) => ({ name: n.name, hostIP: n.internalIP, imds: cloud!.endpoints.imds[n.name] })),
    kube: { server: kube.url, port: kube.port, caCertPem: tls.caCert, caCertPath: layout.caCert },
    cloudProfilePath: layout.cloudProfile,
    podNetwork: claim.network,
    clock: cloud.clock,
    log: (line) => logger.info(line),
  });
  const info: SandboxRuntimeInfo = {
    pid: process.pid,
    version: PACKAGE_VERSION,
    startedAt: new Date().toISOString(),
    dir: layout.dir,
    tenantId: cloud.cliCredential.tenantId,
    subscriptionId: cloud.cliCredential.subscriptionId,
    clientId: cloud.cliCredential.clientId,
    resourceGroup: seed.resourceGroup,
    clusterName: seed.clusterName,
    nodeResourceGroup: seed.nodeResourceGroup,
    location: seed.location,
    endpoints: {
      activeDirectory: cloud.endpoints.entra,
      resourceManager: cloud.endpoints.arm,
      activeDirectoryResourceId: cloud.endpoints.armResourceId,
      kubernetes: kube.url,
      oidcIssuerHost: cloud.endpoints.oidcIssuer,
    },
    nodes: seed.nodes.map((n) => ({
      name: n.name,
      instanceId: n.instanceId,
      imds: cloud!.endpoints.imds[n.name],
      internalIP: n.internalIP,
    })),
    files: {
      cloudProfile: layout.cloudProfile,
      caCert: layout.caCert,
      kubeconfig: kube.kubeconfigPath,
      clientSecret: layout.clientSecret,
      log: layout.log,
    },
  };
  writeFileAtomic(layout.runtime, JSON.stringify(info, null, 2));
  logger.info(`sandbox ready: ARM ${info.endpoints.resourceManager}, Entra ${info.endpoints.activeDirectory}, Kubernetes ${info.endpoints.kubernetes}`);
  ready(info);
}
