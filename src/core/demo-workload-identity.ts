import { setTimeout as sleep } from "node:timers/promises";
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { DemoCode, DemoError } from "../errors/index.js";
import { BINDING_LABEL } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import type { CliRun, DemoInput } from "./demo.js";

/**
 * `podid demo --workload-identity`: after the pod identity walkthrough, the demo workload as a Deployment whose
 * pods get their token through NMI, moved to Microsoft Entra Workload Identity with `podid migrate` (the cluster
 * switched on as `az aks update` would, plan, apply, finish), and shown getting its token by the new path with no
 * aadpodidbinding label left.
 */

export const WI_DEPLOYMENT = "podid-demo-app";
export const WI_TOKEN_LINE = "successfully acquired a token using workload identity";
const MSI_TOKEN_LINE = "successfully acquired a token using the MSI";
const POLL_MS = 1000;

export interface WorkloadIdentityOutcome {
  pod: string;
  log: string;
  ok: boolean;
}

function deployment(input: DemoInput, clientId: string, selector: string): V1Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: WI_DEPLOYMENT, namespace: "default" },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: WI_DEPLOYMENT } },
      template: {
        metadata: { labels: { app: WI_DEPLOYMENT, [BINDING_LABEL]: selector } },
        spec: {
          containers: [
            {
              name: "demo",
              image: input.image,
              args: ["--subscription-id", input.target.subscriptionId, "--resource-group", input.target.nodeResourceGroup, "--client-id", clientId, "--interval", "5s"],
            },
          ],
        },
      },
    },
  };
}

/** Waits for a running pod of the Deployment whose log has the line (and, when asked, no aadpodidbinding label). */
async function podLogging(kube: KubeSession, line: string, timeoutMs: number, withoutBinding = false): Promise<{ pod: V1Pod; log: string } | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = (await kube.list<V1Pod>("v1", "Pod", "default", `app=${WI_DEPLOYMENT}`)).filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === "Running" && (!withoutBinding || !p.metadata?.labels?.[BINDING_LABEL]));
    for (const pod of pods) {
      const log = await kube.podLog("default", pod.metadata!.name!, { container: "demo" }).catch(() => "");
      if (log.includes(line)) return { pod, log };
    }
    if (Date.now() > deadline) return undefined;
    await sleep(POLL_MS);
  }
}

const tail = (log: string, lines: number) => log.trimEnd().split("\n").slice(-lines).join("\n") + "\n";

export async function workloadIdentitySection(d: {
  input: DemoInput;
  clientId: string;
  selector: string;
  podid: (args: string[], remedy: string) => Promise<CliRun>;
  section: (title: string) => void;
  addCleanup: (what: string, run: () => Promise<unknown>) => void;
}): Promise<WorkloadIdentityOutcome> {
  const { input, podid, section } = d;
  const { kube, out } = input;
  const timeoutS = String(Math.ceil(input.timeoutMs / 1000));
  const steps = ["--query", "steps", "-o", "table"];
  section(`6. The demo as a Deployment, ${WI_DEPLOYMENT}: its pods get their token through NMI`);
  const manifest = deployment(input, d.clientId, d.selector);
  d.addCleanup(`delete Deployment ${WI_DEPLOYMENT}`, async () => {
    out(`\n$ kubectl delete deployment,serviceaccount ${WI_DEPLOYMENT} --ignore-not-found\n`);
    for (const kind of ["Deployment", "ServiceAccount"]) {
      if (await kube.delete({ apiVersion: kind === "Deployment" ? "apps/v1" : "v1", kind, metadata: { name: WI_DEPLOYMENT, namespace: "default" } })) out(`${kind.toLowerCase()} "${WI_DEPLOYMENT}" deleted\n`);
    }
  });
  out(`\n$ kubectl apply -f - <<EOF\n${stringify(manifest)}EOF\n`);
  await kube.apply(manifest as never);
  out(`deployment.apps/${WI_DEPLOYMENT} created\n`);
  const before = await podLogging(kube, MSI_TOKEN_LINE, input.timeoutMs);
  if (!before) throw new DemoError(DemoCode.DemoWorkloadIdentityFailed, `no pod of ${WI_DEPLOYMENT} got a token through NMI within ${timeoutS}s`, { remedy: `See \`${input.logsCommand(WI_DEPLOYMENT)}\` and run podid doctor.` });
  out(`\n$ kubectl logs deployment/${WI_DEPLOYMENT} --tail 4\n${tail(before.log, 4)}`);

  section("7. Move it to Microsoft Entra Workload Identity: plan, apply (both paths while it rolls out), finish");
  await podid(["migrate", "plan", "-o", "table"], "Re-run it: it only reads.");
  await podid(["migrate", "apply", "--enable-workload-identity", "--timeout", timeoutS, ...steps], "Re-run the same command: every phase is idempotent; podid migrate status shows where it stands.");
  await podid(["migrate", "finish", "--yes", "--timeout", timeoutS, ...steps], "Re-run the same command: it finishes what is left.");
  const after = await podLogging(kube, WI_TOKEN_LINE, input.timeoutMs, true);
  if (after) out(`\n$ kubectl logs ${after.pod.metadata!.name} --tail 4\n${tail(after.log, 4)}`);
  return { pod: after?.pod.metadata?.name ?? WI_DEPLOYMENT, log: after?.log ?? "", ok: Boolean(after) };
}
