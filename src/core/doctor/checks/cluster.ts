import { KubernetesCode, toPodidError } from "../../../errors/index.js";
import { serverVersion } from "../../../kube/version.js";
import { finding } from "../model.js";
import type { Check } from "../runner.js";

/** 1. The cluster answers with the kubeconfig's context; its server version. */
export const clusterCheck: Check = {
  id: "cluster",
  number: 1,
  title: "cluster reachable, kubeconfig context, server version",
  async run(ctx) {
    const { session, error } = ctx.kubeOrError();
    if (!session) {
      const e = toPodidError(error);
      return {
        observed: {},
        findings: [finding("fail", `the kubeconfig cannot be used: ${e.message}`, { errors: [e.code], fix: "az aks get-credentials -g <group> -n <cluster>   # or pass --kubeconfig / --context" })],
      };
    }
    const observed: Record<string, unknown> = { context: session.config.getCurrentContext(), server: session.server, namespace: ctx.scope.namespace ?? null };
    try {
      const version = await serverVersion(session);
      observed.serverVersion = version.gitVersion;
      return { observed, findings: [] };
    } catch (err) {
      const e = toPodidError(err);
      const errors = [e.code, ...(/\((E[A-Z_]+)\)/.exec(e.message)?.slice(1) ?? [])];
      const fix =
        e.code === KubernetesCode.KubernetesUnauthorized
          ? `az aks get-credentials -g <group> -n <cluster> --overwrite-existing   # refresh the credentials of context ${observed.context}`
          : `kubectl --context ${String(observed.context)} get --raw /version   # then fix the server or context: az aks get-credentials -g <group> -n <cluster>, or podid sandbox start && eval "$(podid sandbox env)" for the sandbox`;
      return { observed, findings: [finding("fail", `cannot reach the Kubernetes API at ${session.server} (context ${String(observed.context)}): ${e.message}`, { errors, fix, objects: [session.server] })] };
    }
  },
};
