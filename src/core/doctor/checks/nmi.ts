import type { V1Node } from "@kubernetes/client-node";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { Workload } from "../context.js";
import { installFix } from "./fixes.js";
import { isReady, isStarting, notReadyReason, podName, workloadRef } from "./runtime-pods.js";
import { NOT_ASSIGNED_SEARCH } from "../../../aadpodidentity/contract/messages.js";
import { componentSelector, WORKLOAD_NAMES } from "../../../aadpodidentity/contract/names.js";
import { isActivePod } from "../../../aadpodidentity/pods.js";

/** What a pod on a node without NMI meets: IMDS itself, which knows none of the pod identities. */
const WITHOUT_NMI = ["Identity not found", "ManagedIdentityCredential authentication unavailable", NOT_ASSIGNED_SEARCH[0]];

const isLinux = (n: V1Node) => (n.metadata?.labels?.["kubernetes.io/os"] ?? n.status?.nodeInfo?.operatingSystem ?? "linux") === "linux";

/** Why the DaemonSet's pod template does not go to this node (its nodeSelector), or undefined. */
function excludedBy(ds: Workload, node: V1Node): string | undefined {
  const selector = (ds.spec?.template?.spec as { nodeSelector?: Record<string, string> } | undefined)?.nodeSelector ?? {};
  const labels = node.metadata?.labels ?? {};
  const miss = Object.entries(selector).filter(([k, v]) => labels[k] !== v);
  return miss.length ? `its nodeSelector ${miss.map(([k, v]) => `${k}=${v}`).join(",")} does not match the node` : undefined;
}

/** 4. NMI: a ready NMI pod on every Linux node; the nodes without one are named, with why. */
export const nmiCheck: Check = {
  id: "nmi",
  number: 4,
  title: "NMI: a ready pod on every Linux node",
  async run(ctx) {
    const [{ nmi: daemonSets }, { nmi: pods }, nodes] = await Promise.all([ctx.runtimeWorkloads(), ctx.runtimePods(), ctx.nodes()]);
    const linux = nodes.filter(isLinux);
    const observed: Record<string, unknown> = { daemonSets: daemonSets.map((d) => workloadRef("DaemonSet", d)), linuxNodes: linux.length };
    const findings: Finding[] = [];
    if (!daemonSets.length) {
      findings.push(finding("fail", `NMI is not installed: no DaemonSet ${WORKLOAD_NAMES.nmi.podid} (or ${WORKLOAD_NAMES.nmi.upstream}) in any namespace; token requests from pods reach IMDS itself, which knows no pod identity`, { errors: WITHOUT_NMI, fix: await installFix(ctx), objects: [] }));
      return { observed, findings };
    }
    const live = pods.filter(isActivePod);
    const perNode: Record<string, string> = {};
    const missing: { node: string; why: string; excluded: boolean }[] = [];
    for (const node of linux) {
      const name = node.metadata?.name ?? "";
      const here = live.filter((p) => p.spec?.nodeName === name);
      const ready = here.find(isReady);
      if (ready) {
        perNode[name] = podName(ready);
        continue;
      }
      const starting = here.find((p) => isStarting(p));
      if (starting) {
        // just created (install, rollout): given STARTING_GRACE_MS to become ready
        perNode[name] = `${podName(starting)} starting`;
        continue;
      }
      const excluded = daemonSets.map((d) => excludedBy(d, node)).find(Boolean);
      const why = here.length ? `NMI pod ${here.map((p) => `${podName(p)} is not ready: ${notReadyReason(p)}`).join("; ")}` : excluded ? `no NMI pod: ${workloadRef("DaemonSet", daemonSets[0])} skips it (${excluded})` : "no NMI pod";
      perNode[name] = why;
      missing.push({ node: name, why, excluded: Boolean(excluded) });
    }
    observed.nodes = perNode;
    if (missing.length) {
      const ds = daemonSets[0];
      const excluded = missing.some((m) => m.excluded);
      // Keys added to the shipped nodeSelector (kubernetes.io/os: linux) stay through podid install's apply
      // (another field manager owns them): they are removed by a patch.
      const selector = (ds.spec?.template?.spec as { nodeSelector?: Record<string, string> } | undefined)?.nodeSelector ?? {};
      const extra = Object.keys(selector).filter((k) => k !== "kubernetes.io/os");
      const patch = extra.map((k) => `{"op":"remove","path":"/spec/template/spec/nodeSelector/${k.replace(/~/g, "~0").replace(/\//g, "~1")}"}`).join(",");
      const fix = !excluded
        ? `kubectl describe pod -n ${ds.metadata?.namespace} -l ${componentSelector("nmi")}   # then: ${await installFix(ctx)}`
        : extra.length
          ? `kubectl patch daemonset ${ds.metadata?.name} -n ${ds.metadata?.namespace} --type json -p '[${patch}]'   # NMI must run on every Linux node; then: ${await installFix(ctx)}`
          : `${await installFix(ctx)}   # re-applies NMI's nodeSelector kubernetes.io/os: linux`;
      findings.push(
        finding("fail", `${missing.length} of ${linux.length} Linux node(s) have no ready NMI: ${missing.map((m) => `${m.node} (${m.why})`).join("; ")}; pods there get no pod identity token`, {
          errors: WITHOUT_NMI,
          fix,
          objects: [workloadRef("DaemonSet", ds), ...missing.map((m) => `Node ${m.node}`)],
        }),
      );
    }
    return { observed, findings };
  },
};
