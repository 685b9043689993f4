import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { CLUSTER_TYPE } from "./handlers/containerservice.js";
import { SCALE_SET_TYPE } from "./handlers/compute.js";
import { IDENTITY_TYPE } from "./handlers/msi.js";
import { OWNER_ROLE_ID } from "./builtin-roles.js";
import type { ArmResource, AzureState, Principal, RoleAssignment, SeedInfo, SeedNode } from "./model.js";
import { groupId, key, providerId, subscriptionScope } from "./scopes.js";

export interface TopologyOptions {
  nodes: number;
  /** Node pools, each its own scale set (`aks-nodepool<k>-<id>-vmss`); nodes are dealt round-robin. Default 1. */
  scaleSets?: number;
  location?: string;
  resourceGroup?: string;
  clusterName?: string;
  /** The second octet of the sandbox's loopback network 127.<network>.0.0/16 (default: random, see network-claim.ts). */
  network?: number;
}

/** Second octets a sandbox's network may use: clear of 127.0.0.0/16, where everything else on the machine listens. */
export const NETWORK_RANGE = { min: 32, max: 223 };

export function randomNetwork(): number {
  return randomInt(NETWORK_RANGE.min, NETWORK_RANGE.max + 1);
}

/** AKS names scale-set computers `<vmss name><instance id in base 36, 6 wide>`. */
function computerName(vmssName: string, instance: number): string {
  return `${vmssName}${instance.toString(36).padStart(6, "0")}`;
}

/** Names and ids of a fresh sandbox, shaped like a real AKS cluster's (stable once written down by the caller). */
export function planTopology(options: TopologyOptions): SeedInfo {
  const location = options.location ?? "eastus";
  const resourceGroup = options.resourceGroup ?? "podid-sandbox";
  const clusterName = options.clusterName ?? "podid-aks";
  const subscriptionId = randomUUID();
  const nodeResourceGroup = `MC_${resourceGroup}_${clusterName}_${location}`;
  const poolId = randomInt(10_000_000, 100_000_000);
  const pools = Math.max(1, options.scaleSets ?? 1);
  const network = options.network ?? randomNetwork();
  const vmssNames = Array.from({ length: pools }, (_, k) => `aks-nodepool${k + 1}-${poolId}-vmss`);
  const vmssName = vmssNames[0];
  const nodes: SeedNode[] = Array.from({ length: options.nodes }, (_, i) => {
    const pool = vmssNames[i % pools];
    const instance = Math.floor(i / pools);
    const vmssId = providerId(subscriptionId, nodeResourceGroup, SCALE_SET_TYPE, pool);
    return {
      name: computerName(pool, instance),
      instanceId: String(instance),
      // AKS writes node providerIDs with the node resource group lower-cased; ARM ids compare case-insensitively.
      vmId: `${vmssId}/virtualMachines/${instance}`.replace(`/resourceGroups/${nodeResourceGroup}/`, `/resourceGroups/${nodeResourceGroup.toLowerCase()}/`),
      // AKS puts nodes on 10.224.0.0/16; the sandbox's nodes are local processes: 127.<network>.0.0/24, pods on
      // 127.<network>.<node + 1>.0/24, so two sandboxes on one machine never share an address.
      internalIP: `127.${network}.0.${4 + i}`,
      vmUuid: randomUUID(),
    };
  });
  return {
    subscriptionId,
    location,
    resourceGroup,
    clusterName,
    nodeResourceGroup,
    vmssName,
    kubeletIdentityName: `${clusterName}-agentpool`,
    cliPrincipalId: randomUUID(),
    network,
    nodes,
  };
}

function assignment(scope: string, roleGuid: string, principalId: string, at: string): RoleAssignment {
  const name = randomUUID();
  return {
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
    name,
    type: "Microsoft.Authorization/roleAssignments",
    properties: {
      roleDefinitionId: `${subscriptionScope(scope.split("/")[2])}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`,
      principalId,
      principalType: "ServicePrincipal",
      scope,
      createdOn: at,
      updatedOn: at,
      createdBy: principalId,
      updatedBy: principalId,
    },
  };
}

function managedIdentityPrincipal(name: string, miResourceId: string | undefined, visibleAt: number): Principal {
  return { objectId: randomUUID(), appId: randomUUID(), displayName: name, kind: "managedIdentity", visibleAt, ...(miResourceId ? { miResourceId } : {}) };
}

/** The AKS-made tags real node resources carry; MIC and `az` show them, nothing depends on them. */
/** The scale set a node belongs to, from its VM id. */
export function scaleSetNameOf(node: SeedNode): string {
  return /\/virtualMachineScaleSets\/([^/]+)\//i.exec(node.vmId)![1];
}

/** Every scale set of the topology, the first pool's first. */
export function scaleSetNames(info: SeedInfo): string[] {
  return [...new Set([info.vmssName, ...info.nodes.map(scaleSetNameOf)])];
}

/** The node pool (`nodepool<k>`) a scale set serves. */
function poolNameOf(vmssName: string): string {
  return /^aks-([^-]+)-/.exec(vmssName)?.[1] ?? "nodepool1";
}

function aksTags(vmssName: string): Record<string, string> {
  return { "aks-managed-poolName": poolNameOf(vmssName), "aks-managed-createOperationID": randomUUID(), "aks-managed-orchestrator": "Kubernetes:1.30.6" };
}

function scaleSet(info: SeedInfo, vmssName: string, capacity: number, kubelet: ArmResource): ArmResource {
  const kubeletProps = kubelet.properties as { principalId: string; clientId: string };
  return {
    id: providerId(info.subscriptionId, info.nodeResourceGroup, SCALE_SET_TYPE, vmssName),
    name: vmssName,
    type: SCALE_SET_TYPE,
    location: info.location,
    tags: aksTags(vmssName),
    sku: { name: "Standard_DS2_v2", tier: "Standard", capacity },
    // AKS attaches the kubelet identity to every node pool's scale set.
    identity: { type: "UserAssigned", userAssignedIdentities: { [kubelet.id]: { principalId: kubeletProps.principalId, clientId: kubeletProps.clientId } } },
    properties: {
      singlePlacementGroup: false,
      orchestrationMode: "Uniform",
      upgradePolicy: { mode: "Manual" },
      virtualMachineProfile: {
        osProfile: { computerNamePrefix: vmssName, adminUsername: "azureuser", linuxConfiguration: { disablePasswordAuthentication: true, provisionVMAgent: true } },
        storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage", caching: "ReadOnly", diskSizeGB: 128 } },
        networkProfile: { networkInterfaceConfigurations: [{ name: vmssName, properties: { primary: true, enableIPForwarding: true } }] },
      },
      provisioningState: "Succeeded",
      overprovision: false,
      uniqueId: randomUUID(),
      platformFaultDomainCount: 1,
      timeCreated: new Date().toISOString(),
    },
  };
}

function scaleSetVm(info: SeedInfo, vmss: ArmResource, node: SeedNode): ArmResource {
  return {
    id: `${vmss.id}/virtualMachines/${node.instanceId}`,
    name: `${vmss.name}_${node.instanceId}`,
    type: `${SCALE_SET_TYPE}/virtualMachines`,
    location: info.location,
    tags: vmss.tags,
    instanceId: node.instanceId,
    sku: { name: "Standard_DS2_v2", tier: "Standard" },
    properties: {
      latestModelApplied: true,
      modelDefinitionApplied: "VirtualMachineScaleSet",
      vmId: node.vmUuid,
      hardwareProfile: { vmSize: "Standard_DS2_v2" },
      osProfile: { computerName: node.name, adminUsername: "azureuser", linuxConfiguration: { disablePasswordAuthentication: true, provisionVMAgent: true } },
      networkProfile: { networkInterfaces: [{ id: `${vmss.id}/virtualMachines/${node.instanceId}/networkInterfaces/${vmss.name}` }] },
      provisioningState: "Succeeded",
      timeCreated: new Date().toISOString(),
    },
  };
}

function managedCluster(info: SeedInfo, tenantId: string, controlPlane: Principal, kubelet: ArmResource): ArmResource {
  const kubeletProps = kubelet.properties as { principalId: string; clientId: string };
  const dnsPrefix = `${info.clusterName}-${info.resourceGroup}-${info.subscriptionId.slice(0, 6)}`.slice(0, 54);
  const fqdn = `${dnsPrefix}-${randomBytes(4).toString("hex")}.hcp.${info.location}.azmk8s.io`;
  return {
    id: providerId(info.subscriptionId, info.resourceGroup, CLUSTER_TYPE, info.clusterName),
    name: info.clusterName,
    type: CLUSTER_TYPE,
    location: info.location,
    tags: {},
    sku: { name: "Base", tier: "Free" },
    identity: { type: "SystemAssigned", principalId: controlPlane.objectId, tenantId },
    properties: {
      provisioningState: "Succeeded",
      powerState: { code: "Running" },
      kubernetesVersion: "1.30.6",
      currentKubernetesVersion: "1.30.6",
      dnsPrefix,
      fqdn,
      azurePortalFQDN: fqdn.replace(".hcp.", ".portal.hcp."),
      agentPoolProfiles: scaleSetNames(info).map((name) => (
        {
          name: poolNameOf(name),
          count: info.nodes.filter((n) => scaleSetNameOf(n) === name).length,
          vmSize: "Standard_DS2_v2",
          osDiskSizeGB: 128,
          osDiskType: "Managed",
          kubeletDiskType: "OS",
          maxPods: 250,
          type: "VirtualMachineScaleSets",
          enableAutoScaling: false,
          provisioningState: "Succeeded",
          powerState: { code: "Running" },
          orchestratorVersion: "1.30.6",
          currentOrchestratorVersion: "1.30.6",
          enableNodePublicIP: false,
          mode: name === info.vmssName ? "System" : "User",
          osType: "Linux",
          osSKU: "Ubuntu",
          nodeImageVersion: "AKSUbuntu-2204gen2containerd-202410.15.0",
          enableFIPS: false,
        }
      )),
      servicePrincipalProfile: { clientId: "msi" },
      nodeResourceGroup: info.nodeResourceGroup,
      enableRBAC: true,
      supportPlan: "KubernetesOfficial",
      networkProfile: {
        networkPlugin: "azure",
        networkPluginMode: "overlay",
        networkPolicy: "none",
        podCidr: "10.244.0.0/16",
        serviceCidr: "10.0.0.0/16",
        dnsServiceIP: "10.0.0.10",
        outboundType: "loadBalancer",
        loadBalancerSku: "standard",
        podCidrs: ["10.244.0.0/16"],
        serviceCidrs: ["10.0.0.0/16"],
        ipFamilies: ["IPv4"],
      },
      maxAgentPools: 100,
      identityProfile: { kubeletidentity: { resourceId: kubelet.id, clientId: kubeletProps.clientId, objectId: kubeletProps.principalId } },
      disableLocalAccounts: false,
      oidcIssuerProfile: { enabled: false },
    },
  };
}

function userAssignedIdentity(id: string, name: string, location: string, tenantId: string, principal: Principal): ArmResource {
  return {
    id,
    name,
    type: IDENTITY_TYPE,
    location,
    tags: {},
    properties: { isolationScope: "None", tenantId, principalId: principal.objectId, clientId: principal.appId },
  };
}

/**
 * The world of a fresh sandbox: a tenant and subscription, the CLI's service principal (Owner on the
 * subscription), the AKS cluster with its node resource group, kubelet identity and node scale set, exactly
 * as `az aks create` leaves them.
 */
export function seedState(info: SeedInfo, now = Date.now()): AzureState {
  const tenantId = randomUUID();
  const at = new Date(now).toISOString();
  const sub = subscriptionScope(info.subscriptionId);
  const cli: Principal = {
    objectId: info.cliPrincipalId,
    appId: randomUUID(),
    displayName: "podid-sandbox-cli",
    kind: "application",
    visibleAt: now,
    secret: randomBytes(30).toString("base64url"),
  };
  const kubeletId = providerId(info.subscriptionId, info.nodeResourceGroup, IDENTITY_TYPE, info.kubeletIdentityName);
  const kubeletPrincipal = managedIdentityPrincipal(info.kubeletIdentityName, kubeletId, now);
  const controlPlane = managedIdentityPrincipal(info.clusterName, undefined, now);
  const kubelet = userAssignedIdentity(kubeletId, info.kubeletIdentityName, info.location, tenantId, kubeletPrincipal);
  const cluster = managedCluster(info, tenantId, controlPlane, kubelet);
  const scaleSets = scaleSetNames(info).map((name) => scaleSet(info, name, info.nodes.filter((n) => scaleSetNameOf(n) === name).length, kubelet));
  const group = (name: string, managedBy?: string): ArmResource => ({
    id: groupId(info.subscriptionId, name),
    name,
    type: "Microsoft.Resources/resourceGroups",
    location: info.location,
    ...(managedBy ? { managedBy } : {}),
    tags: managedBy ? { "aks-managed-cluster-name": info.clusterName, "aks-managed-cluster-rg": info.resourceGroup } : {},
    properties: { provisioningState: "Succeeded" },
  });
  const resources = [group(info.resourceGroup), group(info.nodeResourceGroup, cluster.id), cluster, kubelet, ...scaleSets, ...info.nodes.map((n) => scaleSetVm(info, scaleSets.find((v) => v.name === scaleSetNameOf(n))!, n))];
  const owner = assignment(sub, OWNER_ROLE_ID, cli.objectId, at);
  return {
    tenantId,
    seed: info,
    principals: Object.fromEntries([cli, kubeletPrincipal, controlPlane].map((p) => [p.objectId.toLowerCase(), p])),
    subscriptions: { [info.subscriptionId.toLowerCase()]: { subscriptionId: info.subscriptionId, displayName: "podid sandbox", state: "Enabled" } },
    resources: Object.fromEntries(resources.map((r) => [key(r.id), r])),
    roleAssignments: { [key(owner.id)]: owner },
    customRoles: {},
    settings: { replicationDelaySeconds: 0 },
    faults: [],
  };
}
