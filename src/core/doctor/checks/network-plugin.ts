import { KUBENET_SEARCH } from "../../../aadpodidentity/contract/messages.js";
import { RuntimeCode } from "../../../errors/index.js";
import { finding } from "../model.js";
import type { Check } from "../runner.js";
import { installFix } from "./fixes.js";

const KUBENET_RISK = "on kubenet a pod with NET_RAW can spoof another pod's IP and take its identity (CVE-2021-1677)";
const MITIGATION = "drop NET_RAW from workload pods (securityContext.capabilities.drop: [NET_RAW], enforced e.g. by an Azure Policy / Gatekeeper capabilities constraint)";

/** 5. kubenet without NMI's allow flag (NMI refuses to start), or with it (the spoofing risk and its mitigation). */
export const networkPluginCheck: Check = {
  id: "network-plugin",
  number: 5,
  title: "network plugin and NMI's kubenet flag",
  async run(ctx) {
    const cluster = await ctx.aksCluster();
    const observed: Record<string, unknown> = { cluster: cluster.id, networkPlugin: cluster.networkPlugin };
    if (cluster.networkPlugin.toLowerCase() !== "kubenet") return { observed, findings: [] };
    const { nmi } = await ctx.runtimeWorkloads();
    const args = nmi.flatMap((d) => (d.spec?.template?.spec?.containers ?? []).flatMap((c) => [...(c.args ?? []), ...(c.command ?? [])]));
    const allowed = args.some((a) => /^--allow-network-plugin-kubenet(=true)?$/i.test(a));
    observed.nmi = nmi.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`);
    observed.allowNetworkPluginKubenet = allowed;
    const objects = [cluster.id, ...nmi.map((d) => `DaemonSet ${d.metadata?.namespace}/${d.metadata?.name}`)];
    if (!allowed) {
      return {
        observed,
        findings: [
          finding("fail", `cluster ${cluster.name} uses the kubenet network plugin and NMI ${nmi.length ? "is not run with --allow-network-plugin-kubenet" : "is not installed"}: NMI refuses to start, so no pod gets a token; ${KUBENET_RISK}`, {
            errors: [KUBENET_SEARCH, RuntimeCode.KubenetNotSupported],
            fix: `${await installFix(ctx, "--kubenet")}   # after reading the risk; or move the cluster to Azure CNI`,
            objects,
          }),
        ],
      };
    }
    return {
      observed,
      findings: [finding("warn", `cluster ${cluster.name} uses kubenet and NMI is allowed to run on it: ${KUBENET_RISK}`, { errors: ["CVE-2021-1677"], fix: `# mitigate: ${MITIGATION}`, objects })],
    };
  },
};
