import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Option, type Command } from "commander";
import { action } from "../cli/action.js";
import { DemoCode, DemoError, SandboxCode, SandboxError, UsageError } from "../errors/index.js";
import { PACKAGE_VERSION } from "../util/package-info.js";
import { DEMO_IMAGE } from "../render/install.js";
import type { DemoResult } from "../core/demo.js";
import { present } from "../cli/presented.js";
import { sandboxLayout } from "../sandbox/layout.js";
import { sandboxEnvironment } from "../sandbox/environment.js";

interface DemoFlags {
  dir?: string;
  keep?: boolean;
  timeout: string;
  workloadIdentity?: boolean;
}

/** `podid demo`: the walkthrough (src/core/demo.ts) on a sandbox, started for it unless --dir names one. */
export function configureDemo(cmd: Command): void {
  cmd
    .option("--dir <dir>", "A running sandbox's directory (default: start a new sandbox in a temporary directory, and remove it at the end).")
    .option("--keep", "Keep what the demo made (and the sandbox it started) for a look around.")
    .addOption(new Option("--timeout <seconds>", "How long to wait for the rollout and for each demo pod.").default("300", "300"))
    .option("--workload-identity", "Then run the demo as a Deployment and move it to Microsoft Entra Workload Identity with podid migrate (plan, apply, finish).")
    .addHelpText(
      "after",
      `
Examples:
  The whole walkthrough on a new sandbox, removed afterwards:
    podid demo
  On a running sandbox, keeping the identity, binding and pods to look at:
    podid sandbox start && podid demo --dir .podid/sandbox --keep
  The walkthrough, then the demo workload moved to workload identity:
    podid demo --workload-identity`,
    )
    .action(
      action<DemoFlags>(async (flags, ctx) => {
        const timeoutS = Number(flags.timeout);
        if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`argument --timeout: '${flags.timeout}' is not a number of seconds`, "Pass e.g. --timeout 300.");
        const { runDemoWalkthrough, runPodidCommand } = await import("../core/demo.js");
        const { shellWord } = await import("../util/shell.js");
        const { openKubeSession } = await import("../kube/session.js");
        const { sandboxStatus, stopSandboxProcess } = await import("../sandbox/lifecycle.js");
        // The walkthrough is for people; with -o or --query, stdout is kept for the result (how each pod fared).
        const asData = ctx.globals.outputGiven || ctx.globals.query !== undefined;
        const out = (text: string) => void (asData ? process.stderr : process.stdout).write(text);
        let dir: string;
        const started = flags.dir === undefined;
        let starting: Promise<unknown> | undefined;
        // Interrupted (Ctrl-C, or the reader of its output gone): a sandbox the demo started, or is starting,
        // does not outlive it, unless --keep.
        const interrupted = async (signal: NodeJS.Signals) => {
          if (started && !flags.keep) {
            out(`\nInterrupted (${signal}): stopping the demo's sandbox and removing ${dir}\n`);
            await starting?.catch(() => undefined);
            await stopSandboxProcess(dir);
            rmSync(dir, { recursive: true, force: true });
          }
          process.exit(130);
        };
        if (flags.dir !== undefined) {
          dir = sandboxLayout(flags.dir).dir;
          if (sandboxStatus(dir).status !== "running") {
            throw new SandboxError(SandboxCode.SandboxNotRunning, `no running sandbox in ${dir}`, { remedy: `Start it first: podid sandbox start --dir ${flags.dir}; or omit --dir to let the demo start its own.` });
          }
          process.once("SIGINT", interrupted).once("SIGTERM", interrupted);
        } else {
          dir = mkdtempSync(join(tmpdir(), "podid-demo-"));
          process.once("SIGINT", interrupted).once("SIGTERM", interrupted);
          out(`# podid demo: a new sandbox in ${dir}, removed at the end${flags.keep ? " (kept: --keep)" : ""}\n`);
          const startRun = runPodidCommand(["sandbox", "start", "--dir", dir, "-o", "yaml"], {}, out);
          starting = startRun;
          const start = await startRun;
          if (start.code !== 0) {
            process.off("SIGINT", interrupted).off("SIGTERM", interrupted);
            rmSync(dir, { recursive: true, force: true });
            throw new DemoError(DemoCode.DemoSandboxStartFailed, "the demo's sandbox did not start", { remedy: "See its error above; `podid sandbox start --dir DIR` alone shows the same." });
          }
        }
        let result: DemoResult | undefined;
        try {
          const status = sandboxStatus(dir);
          if (status.status !== "running") throw new SandboxError(SandboxCode.SandboxNotRunning, `the sandbox in ${dir} stopped`, { remedy: `Read ${sandboxLayout(dir).log}.` });
          const info = status.info;
          out(`\n$ eval "$(podid sandbox env --dir ${shellWord(dir)})"\n`);
          result = await runDemoWalkthrough({
            target: { subscriptionId: info.subscriptionId, resourceGroup: info.resourceGroup, clusterName: info.clusterName, nodeResourceGroup: info.nodeResourceGroup },
            kube: openKubeSession({ kubeconfig: info.files.kubeconfig, namespace: "default" }),
            image: `${DEMO_IMAGE}:${PACKAGE_VERSION}`,
            env: sandboxEnvironment(info),
            timeoutMs: timeoutS * 1000,
            keep: Boolean(flags.keep),
            out,
            logsCommand: (pod) => `podid sandbox logs ${pod} --dir ${shellWord(dir)}`,
            workloadIdentity: Boolean(flags.workloadIdentity),
          });
        } finally {
          process.off("SIGINT", interrupted).off("SIGTERM", interrupted);
          if (started && !flags.keep) {
            await runPodidCommand(["sandbox", "stop", "--dir", dir, "-o", "none"], {}, out);
            rmSync(dir, { recursive: true, force: true });
          } else if (started) {
            out(`\nThe sandbox keeps running: eval "$(podid sandbox env --dir ${shellWord(dir)})" to use it, podid sandbox stop --dir ${shellWord(dir)} to stop it.\n`);
          }
        }
        return present(result, {
          text: () => "",
          table: (r) => r?.pods.map((p) => ({ pod: p.name, labelled: p.labelled, ok: p.ok, state: p.state })),
        });
      }),
    );
}
