import { Command, Option } from "commander";
import { action } from "../cli/action.js";
import { PodidError, UsageError } from "../cli/errors.js";
import { wipeSandbox } from "../sandbox/wipe.js";
import { DEFAULT_SANDBOX_DIR, sandboxLayout, type SandboxRuntimeInfo } from "../sandbox/layout.js";
import { readRuntime, sandboxStatus, startSandboxProcess, stopSandboxProcess } from "../sandbox/lifecycle.js";

function positiveInt(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new UsageError(`argument ${name}: '${value}' is not a whole number from 1 to ${max}`, `Pass e.g. ${name} 2.`);
    }
    return n;
  };
}

function nonNegative(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`argument ${name}: '${value}' is not a number of seconds`, `Pass e.g. ${name} 10.`);
    return n;
  };
}

const dirOption = () => new Option("--dir <dir>", "Directory holding the sandbox's state and files.").default(DEFAULT_SANDBOX_DIR);

/** What `start` and `status` print: endpoints and files, never a secret. */
function describe(info: SandboxRuntimeInfo, status: string) {
  return {
    status,
    dir: info.dir,
    pid: info.pid,
    tenantId: info.tenantId,
    subscriptionId: info.subscriptionId,
    clientId: info.clientId,
    resourceGroup: info.resourceGroup,
    cluster: info.clusterName,
    nodeResourceGroup: info.nodeResourceGroup,
    endpoints: info.endpoints,
    nodes: info.nodes,
    files: info.files,
  };
}

/** Single-quoted for POSIX shells: `'` becomes `'\''`. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function envLines(info: SandboxRuntimeInfo): string {
  const vars: [string, string][] = [
    ["AZURE_TENANT_ID", shellQuote(info.tenantId)],
    ["AZURE_CLIENT_ID", shellQuote(info.clientId)],
    // The secret is read from its 0600 file when the line is evaluated, so it is never printed.
    ["AZURE_CLIENT_SECRET", `"$(cat ${shellQuote(info.files.clientSecret)})"`],
    ["AZURE_AUTHORITY_HOST", shellQuote(info.endpoints.activeDirectory)],
    ["AZURE_SUBSCRIPTION_ID", shellQuote(info.subscriptionId)],
    ["PODID_CLOUD", shellQuote(info.files.cloudProfile)],
    ["NODE_EXTRA_CA_CERTS", shellQuote(info.files.caCert)],
    ["REQUESTS_CA_BUNDLE", shellQuote(info.files.caCert)],
    ["KUBECONFIG", shellQuote(info.files.kubeconfig)],
  ];
  return vars.map(([k, v]) => `export ${k}=${v}`).join("\n");
}

export function configureSandbox(sandbox: Command): void {

  sandbox
    .command("start")
    .description("Start the sandbox in the background and wait until it serves.")
    .addOption(dirOption())
    .option("--nodes <n>", "Number of nodes (scale-set instances) of a new sandbox.", positiveInt("--nodes", 50), 2)
    .option("--fresh", "Discard any previous state and start a new sandbox.")
    .option("--replication-delay <seconds>", "Seconds a new principal stays unknown to role assignment (as Entra ID replication).", nonNegative("--replication-delay"))
    .option("--timeout <seconds>", "How long to wait for the sandbox to be ready.", nonNegative("--timeout"), 60)
    .addHelpText(
      "after",
      `
Examples:
  Start a sandbox and point this shell at it:
    podid sandbox start && eval "$(podid sandbox env)"
  Start a new one with 3 nodes, discarding the old state:
    podid sandbox start --fresh --nodes 3`,
    )
    .action(
      action<{ dir: string; nodes: number; fresh?: boolean; replicationDelay?: number; timeout: number }>(async (o, ctx) => {
        if (o.fresh) {
          await stopSandboxProcess(o.dir);
          wipeSandbox(o.dir);
        }
        const current = sandboxStatus(o.dir);
        if (current.status === "running") {
          ctx.logger.warn(`a sandbox is already running in ${current.info.dir} (pid ${current.info.pid}); leaving it as it is`);
          return describe(current.info, "running");
        }
        ctx.logger.verbose(`starting the sandbox in ${sandboxLayout(o.dir).dir}`);
        const info = await startSandboxProcess({
          dir: o.dir,
          nodes: o.nodes,
          replicationDelaySeconds: o.replicationDelay,
          timeoutMs: o.timeout * 1000,
        });
        return describe(info, "running");
      }),
    );

  sandbox
    .command("stop")
    .description("Stop the sandbox; its state stays in DIR for the next start.")
    .addOption(dirOption())
    .action(
      action<{ dir: string }>(async (o) => {
        const stopped = await stopSandboxProcess(o.dir);
        return { status: "stopped", dir: sandboxLayout(o.dir).dir, wasRunning: stopped };
      }),
    );

  sandbox
    .command("status")
    .description("Show whether the sandbox runs, and its endpoints.")
    .addOption(dirOption())
    .action(
      action<{ dir: string }>(async (o) => {
        const s = sandboxStatus(o.dir);
        return s.status === "running" ? describe(s.info, "running") : { status: "stopped", dir: s.dir };
      }),
    );

  sandbox
    .command("env")
    .description("Print shell export lines that point Azure SDKs, kubectl and podid at the sandbox.")
    .addOption(dirOption())
    .addHelpText("after", `\nExample:\n  eval "$(podid sandbox env)"`)
    .action(
      action<{ dir: string }>(async (o) => {
        const info = readRuntime(o.dir);
        if (!info) {
          throw new PodidError("SandboxNotRunning", `no running sandbox in ${sandboxLayout(o.dir).dir}`, {
            remedy: `Start it first: podid sandbox start --dir ${o.dir}`,
          });
        }
        process.stdout.write(envLines(info) + "\n");
        return undefined;
      }),
    );

  sandbox
    .command("serve", { hidden: true })
    .description("Run the sandbox in the foreground (what `start` runs in the background).")
    .addOption(dirOption())
    .option("--nodes <n>", "Number of nodes of a new sandbox.", positiveInt("--nodes", 50), 2)
    .option("--replication-delay <seconds>", "Replication delay in seconds.", nonNegative("--replication-delay"))
    .action(
      action<{ dir: string; nodes: number; replicationDelay?: number }>(async (o) => {
        // Loaded only here: the emulators' dependencies (jose, x509) would slow every other command's start.
        const { runSandbox } = await import("../sandbox/daemon.js");
        await runSandbox({ dir: o.dir, nodes: o.nodes, replicationDelaySeconds: o.replicationDelay }, (info) => {
          if (process.send) {
            process.send({ ready: info });
            process.disconnect?.();
          }
        });
        return undefined;
      }),
    );
}
