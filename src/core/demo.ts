import { spawn } from "node:child_process";
import type { V1Pod } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { DemoCode, DemoError, type PodidError } from "../errors/index.js";
import { CLI_ENTRY } from "../util/package-info.js";
import { demoResults } from "../aadpodidentity/contract/demo-result.js";
import { identitySpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, BINDING_LABEL, type AzureIdentity } from "../aadpodidentity/types.js";
import { shellWord } from "../util/shell.js";
import { createPod, deletePod, podState, waitForPodEnd } from "../kube/pods.js";
import type { KubeSession } from "../kube/session.js";
import { WI_DEPLOYMENT, workloadIdentitySection, type WorkloadIdentityOutcome } from "./demo-workload-identity.js";

/**
 * `podid demo`: the standard walkthrough, run through podid's own commands as a user would type them (each
 * command line is printed, then its output): install -> identity add -> bind -> a demo pod labelled with the
 * selector gets a token through NMI and lists VMs with it -> a pod without the label is refused -> clean-up.
 */

export const DEMO_NAMESPACE = "default";
export const DEMO_IDENTITY = "podid-demo";
export const DEMO_SELECTOR = "demo";
export const DEMO_POD = "podid-demo";
export const UNLABELLED_POD = "podid-demo-unlabelled";

/** How each podid command's result is shown: its steps and their outcomes, as a table. */
const STEPS = ["-o", "table"];


/** Where the walkthrough runs: the cluster and its Azure side. */
export interface DemoTarget {
  subscriptionId: string;
  resourceGroup: string;
  clusterName: string;
  nodeResourceGroup: string;
}

export interface DemoInput {
  target: DemoTarget;
  kube: KubeSession;
  /** The demo workload's image, with its tag. */
  image: string;
  /** Environment of the podid commands run (e.g. the sandbox's); values are never printed. */
  env: Record<string, string>;
  timeoutMs: number;
  keep: boolean;
  /** Writes the transcript. */
  out: (text: string) => void;
  /** The command that shows a pod's log, for remedies (`podid sandbox logs POD --dir D` on the sandbox). */
  logsCommand: (pod: string) => string;
  /** Then move the demo workload to workload identity with podid migrate (demo-workload-identity.ts). */
  workloadIdentity?: boolean;
}

export interface PodOutcome {
  name: string;
  labelled: boolean;
  state: string;
  log: string;
  ok: boolean;
}

export interface DemoResult {
  identityClientId: string;
  pods: PodOutcome[];
  workloadIdentity?: WorkloadIdentityOutcome;
}


export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs this same CLI in a child process, printing the command line first and its output as it comes.
 * NO_COLOR keeps the transcript plain.
 */
export function runPodidCommand(args: string[], env: Record<string, string>, out: (text: string) => void): Promise<CliRun> {
  out(`\n$ podid ${args.map(shellWord).join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], { env: { ...process.env, ...env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      out(d);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      out(d);
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** A step's command failed: its own error is already printed above. */
function stepFailed(args: string[], run: CliRun, remedy: string): PodidError {
  const last = run.stderr.trim().split("\n").find((l) => l.startsWith("ERROR: "))?.slice("ERROR: ".length);
  return new DemoError(DemoCode.DemoStepFailed, `\`podid ${args.map(shellWord).join(" ")}\` failed (exit ${run.code})${last ? `: ${last}` : ""}`, { remedy });
}

export function demoPod(name: string, input: DemoInput, clientId: string, labelled: boolean): V1Pod {
  const fieldEnv = (envName: string, fieldPath: string) => ({ name: envName, valueFrom: { fieldRef: { fieldPath } } });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: DEMO_NAMESPACE,
      labels: { app: "podid-demo", "app.kubernetes.io/instance": name, ...(labelled ? { [BINDING_LABEL]: DEMO_SELECTOR } : {}) },
    },
    spec: {
      restartPolicy: "Never",
      containers: [
        {
          name: "demo",
          image: input.image,
          args: ["--once", "--subscription-id", input.target.subscriptionId, "--resource-group", input.target.nodeResourceGroup, "--client-id", clientId],
          env: [fieldEnv("MY_POD_NAME", "metadata.name"), fieldEnv("MY_POD_NAMESPACE", "metadata.namespace"), fieldEnv("MY_POD_IP", "status.podIP")],
        },
      ],
    },
  };
}

/** The labelled pod's result line: a token for the demo identity through NMI (managed identity), then the ARM listing. */
export function labelledPodOk(phase: string | undefined, log: string, clientId: string): boolean {
  const result = demoResults(log).at(-1);
  return phase === "Succeeded" && result?.path === "managed identity" && result.token && result.clientId?.toLowerCase() === clientId.toLowerCase() && result.arm;
}

/** The unlabelled pod's result line: no token, because NMI refused (404, or 403) — not a network error. */
export function unlabelledPodRefused(phase: string | undefined, log: string): boolean {
  const results = demoResults(log);
  return phase === "Failed" && results.length > 0 && results.every((r) => !r.token) && (results.at(-1)!.endpointStatus === 403 || results.at(-1)!.endpointStatus === 404);
}

export async function runDemoWalkthrough(input: DemoInput): Promise<DemoResult> {
  const { target, kube, out, env } = input;
  const timeoutS = String(Math.ceil(input.timeoutMs / 1000));
  const cleanups: { what: string; run: () => Promise<unknown> }[] = [];
  const podid = async (args: string[], remedy: string): Promise<CliRun> => {
    const run = await runPodidCommand(args, env, out);
    if (run.code !== 0) throw stepFailed(args, run, remedy);
    return run;
  };
  const section = (title: string) => out(`\n## ${title}\n`);
  let failure: unknown;
  let result: DemoResult | undefined;
  try {
    section("1. Install MIC and NMI, and grant the cluster's kubelet identity its roles");
    cleanups.push({ what: "uninstall", run: () => runPodidCommand(["uninstall", "--yes", ...STEPS], env, out) });
    await podid(["install", "--cluster", target.clusterName, "-g", target.resourceGroup, "--timeout", timeoutS, ...STEPS], "Run `podid doctor` to see what keeps MIC or NMI from becoming ready.");

    section("2. Create the identity the demo pod will use, with Reader on the node resource group");
    const nodeGroupScope = `/subscriptions/${target.subscriptionId}/resourceGroups/${target.nodeResourceGroup}`;
    cleanups.push({ what: "identity delete", run: () => runPodidCommand(["identity", "delete", "-n", DEMO_IDENTITY, "-g", target.resourceGroup, "--yes", ...STEPS], env, out) });
    await podid(
      ["identity", "add", "-n", DEMO_IDENTITY, "-g", target.resourceGroup, "--cluster", target.clusterName, "--role", "Reader", "--scope", nodeGroupScope, ...STEPS],
      "Re-run the same command: it completes what is missing.",
    );
    const azureIdentity = await kube.read<AzureIdentity>({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name: DEMO_IDENTITY, namespace: DEMO_NAMESPACE } });
    const clientId = azureIdentity ? identitySpec(azureIdentity).clientID : undefined;
    if (!clientId) throw new DemoError(DemoCode.DemoIdentityMissing, `AzureIdentity ${DEMO_NAMESPACE}/${DEMO_IDENTITY} has no clientID after \`podid identity add\``, { remedy: `Check it with \`podid identity show -n ${DEMO_IDENTITY}\`.` });

    section(`3. Bind pods labelled aadpodidbinding=${DEMO_SELECTOR} to it`);
    cleanups.push({ what: "unbind", run: () => runPodidCommand(["unbind", "--identity", DEMO_IDENTITY, ...STEPS], env, out) });
    await podid(["bind", "--selector", DEMO_SELECTOR, "--identity", DEMO_IDENTITY, ...STEPS], "Re-run the same command.");

    section("4. Run the demo pods: one labelled with the selector, one without");
    const pods = [demoPod(DEMO_POD, input, clientId, true), demoPod(UNLABELLED_POD, input, clientId, false)];
    cleanups.push({
      what: "delete the demo pods",
      run: async () => {
        out(`\n$ kubectl delete pod ${DEMO_POD} ${UNLABELLED_POD} --ignore-not-found\n`);
        for (const p of pods) if (await deletePod(kube, DEMO_NAMESPACE, p.metadata!.name!, input.timeoutMs)) out(`pod "${p.metadata!.name}" deleted\n`);
      },
    });
    out(`\n$ kubectl apply -f - <<EOF\n${pods.map((p) => stringify(p)).join("---\n")}EOF\n`);
    for (const p of pods) {
      await createPod(kube, p, input.timeoutMs);
      out(`pod/${p.metadata!.name} created\n`);
    }
    out(`\nWaiting for both pods to end: the labelled one once it has its token and has listed the VMs, the other once NMI has refused it...\n`);
    const ended = await Promise.all(
      pods.map((p) => waitForPodEnd(kube, DEMO_NAMESPACE, p.metadata!.name!, { timeoutMs: input.timeoutMs, onState: (s) => out(`  pod/${p.metadata!.name}: ${s}\n`) })),
    );

    section("5. What the pods logged");
    const outcomes: PodOutcome[] = [];
    for (const [i, p] of pods.entries()) {
      const name = p.metadata!.name!;
      const labelled = i === 0;
      out(`\n$ kubectl logs ${name}\n`);
      const log = ended[i].pod ? await kube.podLog(DEMO_NAMESPACE, name).catch((err: Error) => `(no log: ${err.message})\n`) : "(the pod is gone)\n";
      out(log.endsWith("\n") || !log ? log : log + "\n");
      const phase = ended[i].pod?.status?.phase;
      outcomes.push({ name, labelled, state: podState(ended[i].pod), log, ok: labelled ? labelledPodOk(phase, log, clientId) : unlabelledPodRefused(phase, log) });
    }
    result = { identityClientId: clientId, pods: outcomes };
    if (input.workloadIdentity && outcomes.every((o) => o.ok)) {
      result.workloadIdentity = await workloadIdentitySection({
        input,
        clientId,
        selector: DEMO_SELECTOR,
        podid,
        section,
        addCleanup: (what, run) => cleanups.push({ what, run }),
      });
    }

    section("Summary");
    const [good, refused] = outcomes;
    out(
      good.ok
        ? `  ok    pod ${good.name} (aadpodidbinding=${DEMO_SELECTOR}) got a token for identity ${DEMO_IDENTITY} (clientID ${clientId}) through NMI and listed the VMs of ${target.nodeResourceGroup}\n`
        : `  FAIL  pod ${good.name} (aadpodidbinding=${DEMO_SELECTOR}) did not both get a token and list the VMs: ${good.state}\n`,
    );
    out(
      refused.ok
        ? `  ok    pod ${refused.name} (no aadpodidbinding label) was refused a token\n`
        : `  FAIL  pod ${refused.name} (no aadpodidbinding label) was not refused as it should be: ${refused.state}\n`,
    );
    const wi = result.workloadIdentity;
    if (wi) {
      out(
        wi.ok
          ? `  ok    pod ${wi.pod} of Deployment ${WI_DEPLOYMENT}, moved by podid migrate, got its token through workload identity (no aadpodidbinding label, no NMI)\n`
          : `  FAIL  no pod of Deployment ${WI_DEPLOYMENT} got its token through workload identity after podid migrate\n`,
      );
    }
    const diagnose = `See the pod's log (\`${input.logsCommand(DEMO_POD)}\`, \`${input.logsCommand(UNLABELLED_POD)}\`), run \`podid doctor\`, and re-run with --keep to inspect what the demo made.`;
    if (!ended[0].ended || !ended[1].ended) {
      const stuck = pods.flatMap((p, i) => (ended[i].ended ? [] : [`${p.metadata!.name} ${podState(ended[i].pod)}`]));
      throw new DemoError(DemoCode.DemoPodTimeout, `demo pod(s) did not end within ${timeoutS}s: ${stuck.join("; ")}`, { remedy: diagnose });
    }
    if (!good.ok) throw new DemoError(DemoCode.DemoTokenNotAcquired, `pod ${good.name} did not get a token and list the VMs with it (${good.state})`, { remedy: diagnose });
    if (!refused.ok) throw new DemoError(DemoCode.DemoNotRefused, `pod ${refused.name}, which has no aadpodidbinding label, was not refused a token (${refused.state})`, { remedy: diagnose });
    if (wi && !wi.ok) throw new DemoError(DemoCode.DemoWorkloadIdentityFailed, `no pod of ${WI_DEPLOYMENT} got its token through workload identity after podid migrate`, { remedy: `See \`${input.logsCommand(WI_DEPLOYMENT)}\`, podid migrate status and podid doctor.` });
  } catch (err) {
    failure = err;
  }
  if (input.keep) {
    out(`\nKept everything (--keep). Remove it with: ${input.workloadIdentity ? `kubectl delete deployment,serviceaccount ${WI_DEPLOYMENT}; ` : ""}podid unbind --identity ${DEMO_IDENTITY}; podid identity delete -n ${DEMO_IDENTITY} -g ${target.resourceGroup} --yes; podid uninstall --yes\n`);
  } else if (cleanups.length) {
    section("Clean-up");
    for (const step of cleanups.reverse()) {
      try {
        const run = await step.run();
        if (run && typeof run === "object" && "code" in run && (run as CliRun).code !== 0) out(`WARNING: ${step.what} did not complete; re-run it.\n`);
      } catch (err) {
        out(`WARNING: ${step.what} did not complete: ${(err as Error).message}\n`);
      }
    }
  }
  if (failure) throw failure;
  return result!;
}
