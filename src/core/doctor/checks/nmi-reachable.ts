import type { V1NetworkPolicy, V1NetworkPolicyEgressRule, V1Pod, V1LabelSelector } from "@kubernetes/client-node";
import { IPTABLES_FAILED, IPTABLES_NOT_INSTALLED } from "../../../aadpodidentity/contract/messages.js";
import { NODE_EVENT_NAMESPACE, REDIRECT_STATES, RedirectState } from "../../../aadpodidentity/contract/nmi-reports.js";
import { componentSelector, METADATA_CHAIN, NMI_FLAG_DEFAULTS, NmiFlag } from "../../../aadpodidentity/contract/names.js";
import { BINDING_LABEL } from "../../../aadpodidentity/types.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { podRef } from "./matching.js";
import { eventTime, podFlag, type KubeEvent } from "./runtime-pods.js";

export const METADATA_IP = NMI_FLAG_DEFAULTS.metadataIp;
/** What a pod's SDK prints when its packets to the metadata address are dropped. */
const TIMEOUT_ERRORS = ["dial tcp 169.254.169.254:80: i/o timeout", "context deadline exceeded", "ManagedIdentityCredential authentication unavailable"];

/** Where NMI's iptables DNAT sends a node's pods' 169.254.169.254:80: --host-ip, else the listen address (0.0.0.0 -> 127.0.0.1). */
export function dnatTarget(nmi: V1Pod | undefined, nodeIP: string | undefined): { ip: string; port: number } {
  const flag = (name: string) => (nmi ? podFlag(nmi, name) : undefined);
  const port = Number(flag(NmiFlag.port) ?? NMI_FLAG_DEFAULTS.port);
  const hostIp = flag(NmiFlag.hostIp);
  if (hostIp) return { ip: /\$\(/.test(hostIp) ? nodeIP ?? "<node IP>" : hostIp, port };
  const listen = flag(NmiFlag.listenAddress) ?? NMI_FLAG_DEFAULTS.listenAddress;
  return { ip: listen === "0.0.0.0" ? "127.0.0.1" : listen, port };
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  const a = ipv4ToInt(ip);
  const b = ipv4ToInt(base);
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/** Kubernetes label selector semantics (matchLabels and matchExpressions; empty selects all). */
export function selects(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const has = labels[e.key] !== undefined;
    const values = e.values ?? [];
    if (e.operator === "In" && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

const hasEgress = (p: V1NetworkPolicy) => (p.spec?.policyTypes ?? (p.spec?.egress ? ["Ingress", "Egress"] : ["Ingress"])).includes("Egress");

/** Whether one egress rule lets TCP to ip:port out (pod and namespace selectors never match a node or link-local address). */
export function ruleAllows(rule: V1NetworkPolicyEgressRule, ip: string, port: number): boolean {
  const toOk = !rule.to?.length || rule.to.some((peer) => peer.ipBlock && inCidr(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(ip, c)));
  const portOk =
    !rule.ports?.length ||
    rule.ports.some((p) => (p.protocol ?? "TCP").toUpperCase() === "TCP" && (p.port === undefined || (typeof p.port === "number" && (p.port === port || (p.endPort !== undefined && p.port <= port && port <= p.endPort))) || p.port === String(port)));
  return toOk && portOk;
}

const allows = (policies: readonly V1NetworkPolicy[], ip: string, port: number) => policies.some((p) => (p.spec?.egress ?? []).some((r) => ruleAllows(r, ip, port)));

/** The newest of NMI's redirect Events on each node where an NMI pod runs now and has reported since it started. */
async function redirectStates(ctx: DoctorContext, nmi: readonly V1Pod[]): Promise<{ node: string; namespace: string; event: KubeEvent }[]> {
  const events = ((await ctx.events(NODE_EVENT_NAMESPACE)) as KubeEvent[]).filter((e) => e.involvedObject?.kind === "Node" && REDIRECT_STATES.includes(e.reason ?? ""));
  // Timestamps have whole seconds: within one, the later write (a higher resourceVersion) is the newer state.
  const version = (e: KubeEvent) => Number(e.metadata?.resourceVersion ?? 0) || 0;
  const newestFirst = events.sort((a, b) => eventTime(b) - eventTime(a) || version(b) - version(a));
  const found: { node: string; namespace: string; event: KubeEvent }[] = [];
  for (const pod of nmi) {
    const node = pod.spec?.nodeName;
    const event = newestFirst.find((e) => e.involvedObject?.name === node);
    if (!node || !event || found.some((f) => f.node === node)) continue;
    const started = pod.status?.startTime ? new Date(pod.status.startTime).getTime() : 0;
    if (eventTime(event) >= started - 1000) found.push({ node, namespace: pod.metadata?.namespace ?? "", event });
  }
  return found;
}

/**
 * 17. NMI unreachable from pods: NetworkPolicies with Egress that select pods carrying aadpodidbinding and let
 * out neither 169.254.169.254:80 nor NMI's DNAT target (the node's IP or 127.0.0.1, port 2579 by default; most policy
 * engines see the address after NMI's DNAT); and a node where NMI did not install or could not keep its iptables
 * redirect, by the newest state NMI recorded as an Event on the Node (a recovery is the newer Event, so it clears
 * the finding). Doctor cannot see a node's iptables rules themselves; it says so.
 */
export const nmiReachableCheck: Check = {
  id: "nmi-reachable",
  number: 17,
  title: "pods can reach NMI (NetworkPolicies, NMI's iptables redirect)",
  async run(ctx) {
    const [pods, policies, nodes, runtime] = await Promise.all([
      ctx.pods(),
      ctx.list<V1NetworkPolicy>("networking.k8s.io/v1", "NetworkPolicy", ctx.scope.namespace),
      ctx.nodes(),
      ctx.runtimePods().catch(() => ({ mic: [] as V1Pod[], nmi: [] as V1Pod[] })),
    ]);
    const findings: Finding[] = [];
    const labelled = pods.filter((p) => p.metadata?.labels?.[BINDING_LABEL] !== undefined && !p.spec?.hostNetwork);
    const nodeIP = (name: string | undefined) => nodes.find((n) => n.metadata?.name === name)?.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
    const blocked = new Map<string, { policy: V1NetworkPolicy; pods: V1Pod[]; target: { ip: string; port: number }; imdsOnly: boolean }>();
    const observed: Record<string, unknown> = {
      notVerified: "the nodes' iptables rules themselves (doctor reads the state NMI records as Events on each Node, not the nodes); on a node: iptables -t nat -S " + METADATA_CHAIN,
    };
    for (const pod of labelled) {
      const ns = pod.metadata?.namespace ?? "default";
      const labels = pod.metadata?.labels ?? {};
      const egress = policies.filter((p) => p.metadata?.namespace === ns && hasEgress(p) && selects(p.spec?.podSelector, labels));
      if (!egress.length) continue;
      const target = dnatTarget(runtime.nmi.find((n) => n.spec?.nodeName === pod.spec?.nodeName) ?? runtime.nmi[0], nodeIP(pod.spec?.nodeName));
      const toNmi = allows(egress, target.ip, target.port);
      const toImds = allows(egress, METADATA_IP, 80);
      observed[`${ns}/${pod.metadata?.name}`] = { egressPolicies: egress.map((p) => p.metadata?.name), to169_254_169_254: toImds, toNmi: `${target.ip}:${target.port} ${toNmi ? "allowed" : "blocked"}` };
      if (toNmi) continue;
      for (const policy of egress) {
        const key = `${ns}/${policy.metadata?.name}`;
        const entry = blocked.get(key) ?? { policy, pods: [], target, imdsOnly: toImds };
        entry.pods.push(pod);
        blocked.set(key, entry);
      }
    }
    for (const [key, { pods: hit, target, imdsOnly }] of blocked) {
      const [ns, name] = key.split("/");
      const ref = `NetworkPolicy ${key}`;
      const allowRule = `egress to ${METADATA_IP}/32 TCP 80 and ${target.ip}/32 TCP ${target.port}`;
      const what = imdsOnly
        ? `allows egress to ${METADATA_IP}:80 but not to ${target.ip}:${target.port}, where NMI's iptables rule sends that traffic (policy engines such as Calico and Azure NPM see the address after the DNAT)`
        : `allows egress neither to ${METADATA_IP}:80 nor to NMI at ${target.ip}:${target.port}`;
      findings.push(
        finding(imdsOnly ? "warn" : "fail", `${ref} selects pods carrying ${BINDING_LABEL} (${hit.map((p) => p.metadata?.name).join(", ")}) and ${what}: their token requests time out`, {
          errors: TIMEOUT_ERRORS,
          fix: `kubectl delete networkpolicy ${name} -n ${ns}   # or add to it (or to another policy selecting these pods) an ${allowRule}`,
          objects: [ref, ...hit.map(podRef)],
        }),
      );
    }
    const redirects = await redirectStates(ctx, runtime.nmi).catch((err: unknown) => {
      observed.redirectStates = `not read: ${(err as Error).message}`;
      return [];
    });
    if (redirects.length) observed.redirectStates = Object.fromEntries(redirects.map(({ node, event }) => [node, event.reason]));
    for (const { node, namespace, event } of redirects) {
      if (event.reason === RedirectState.Installed) continue;
      const notPermitted = event.reason === RedirectState.NotPermitted;
      const since = (event.count ?? 1) > 1 ? `, ${event.count} checks since ${new Date(event.firstTimestamp ?? 0).toISOString()}` : "";
      const what = notPermitted ? "has no iptables redirect in place" : "cannot keep its iptables redirect in place";
      findings.push(
        finding(notPermitted ? "warn" : "fail", `NMI on node ${node} ${what}: pods' requests to ${METADATA_IP} go to the VM's IMDS instead of NMI (NMI reports ${event.reason}${since}: ${event.message})`, {
          errors: [notPermitted ? IPTABLES_NOT_INSTALLED : IPTABLES_FAILED.trim(), "Identity not found", "no managed identity endpoint"],
          fix: `kubectl delete pod -n ${namespace} -l ${componentSelector("nmi")} --field-selector spec.nodeName=${node}   # NMI re-installs the redirect at start; it needs NET_ADMIN`,
          objects: [`Node ${node}`],
        }),
      );
    }
    observed.networkPolicies = policies.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
    return { observed, findings };
  },
};
