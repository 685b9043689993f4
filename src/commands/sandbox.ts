import { type Command, Option } from "commander";
import { action } from "../cli/action.js";
import { present } from "../cli/presented.js";
import { refuseOldNamespaceFlag } from "../cli/options.js";
import { UsageError } from "../errors/index.js";
import { DEFAULT_SANDBOX_DIR } from "../sandbox/layout.js";
import { clockAdvanceRefusal, MAX_CLOCK_OFFSET_SECONDS } from "../sandbox/clock.js";
import { MAX_DELAY_SECONDS } from "../sandbox/azure/settings.js";
import { FAULT_SERVICES } from "../sandbox/azure/model.js";
import { flagNumber } from "../cli/flags.js";

// What the actions run (processes, the admin API over HTTPS, files) loads when one runs, not for help.
const run = () => import("./sandbox-run.js");

function positiveInt(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new UsageError(`argument ${name}: '${value}' is not a whole number from 1 to ${max}`, `Pass e.g. ${name} 2.`);
    }
    return n;
  };
}

/** A number of `unit` from 0 to `max`, written out in digits (an empty value is not 0). */
function amount(name: string, unit: "seconds" | "milliseconds", max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+(\.\d+)?$/.test(value.trim())) throw new UsageError(`argument ${name}: '${value}' is not a number of ${unit}`, `Pass e.g. ${name} 10.`);
    const n = Number(value);
    if (n > max) throw new UsageError(`argument ${name}: ${value.trim()} is more than ${max} ${unit}`, `Pass at most ${name} ${max}.`);
    return n;
  };
}

const dirOption = () => new Option("--dir <dir>", "Directory holding the sandbox's state and files.").default(DEFAULT_SANDBOX_DIR);

export function configureSandbox(sandbox: Command): void {

  sandbox
    .command("start")
    .description("Start the sandbox in the background and wait until it serves.")
    .addOption(dirOption())
    .option("--nodes <n>", "Number of nodes (scale-set instances) of a new sandbox.", positiveInt("--nodes", 50), 2)
    .option("--fresh", "Discard any previous state and start a new sandbox.")
    .option("--replication-delay <seconds>", "Seconds a new principal stays unknown to role assignment (as Entra ID replication).", amount("--replication-delay", "seconds", MAX_DELAY_SECONDS))
    .option("--timeout <seconds>", "How long to wait for the sandbox to be ready.", amount("--timeout", "seconds"), 60)
    .option("--faults <file>", "JSON file with fault rules to switch on once started (see `podid sandbox fault add --help`).")
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
      action<{ dir: string; nodes: number; fresh?: boolean; replicationDelay?: number; timeout: number; faults?: string }>(async (o, ctx) => {
        const { describe, readFaultsFile, sandboxAdmin, sandboxLayout, sandboxStatus, startSandboxProcess, stopSandboxProcess, wipeSandbox } = await run();
        const faults = o.faults === undefined ? undefined : readFaultsFile(o.faults);
        if (o.fresh) {
          await stopSandboxProcess(o.dir);
          wipeSandbox(o.dir);
        }
        const current = sandboxStatus(o.dir);
        if (current.status === "running") {
          ctx.logger.warn(`a sandbox is already running in ${current.info.dir} (pid ${current.info.pid}); leaving it as it is`);
          return describe(current.info, "running");
        }
        ctx.progress.begin(`starting the sandbox in ${sandboxLayout(o.dir).dir}`, o.timeout * 1000);
        const info = await startSandboxProcess({
          dir: o.dir,
          nodes: o.nodes,
          replicationDelaySeconds: o.replicationDelay,
          timeoutMs: o.timeout * 1000,
        });
        ctx.progress.end("running");
        if (faults) await sandboxAdmin(o.dir, "PUT", "faults", faults);
        return describe(info, "running");
      }),
    );

  sandbox
    .command("stop")
    .description("Stop the sandbox; its state stays in DIR for the next start.")
    .addOption(dirOption())
    .addHelpText("after", "\nExample:\n  podid sandbox stop && podid sandbox start   # restart, keeping identities, roles and cluster objects")
    .action(
      action<{ dir: string }>(async (o) => {
        const { sandboxLayout, stopSandboxProcess } = await run();
        const stopped = await stopSandboxProcess(o.dir);
        return { status: "stopped", dir: sandboxLayout(o.dir).dir, wasRunning: stopped };
      }),
    );

  sandbox
    .command("status")
    .description("Show whether the sandbox runs, and its endpoints.")
    .addOption(dirOption())
    .addHelpText("after", "\nExamples:\n  podid sandbox status -o table\n  podid sandbox status --query \"nodes[].imds\" -o tsv")
    .action(
      action<{ dir: string }>(async (o) => {
        const { describe, sandboxStatus } = await run();
        const s = sandboxStatus(o.dir);
        return s.status === "running" ? describe(s.info, "running") : { status: "stopped", dir: s.dir };
      }),
    );

  sandbox
    .command("env")
    .description("Print shell export lines that point Azure SDKs, kubectl and podid at the sandbox.")
    .addOption(dirOption())
    .addHelpText("after", `\nExamples:\n  eval "$(podid sandbox env)"\n  podid sandbox env -o table\n  podid sandbox env --query "[?name=='KUBECONFIG'].value" -o tsv`)
    .action(
      // Shell lines unless -o is given: the variables as data, the secret's file in place of the secret.
      action<{ dir: string }>(async (o) => {
        const { envLines, envVariables, runningSandbox } = await run();
        return present(envVariables(runningSandbox(o.dir)), { text: envLines });
      }),
    );

  const logs = sandbox
    .command("logs")
    .description("Show the output of a pod the sandbox's nodes run (MIC, NMI, the demo), as kubectl logs does.")
    .argument("<pod>", "Name of the pod.")
    .option("--namespace <namespace>", "Namespace of the pod.", "default");
  refuseOldNamespaceFlag(logs)
    .option("-c, --container <name>", "Container (default: the pod's only one).")
    .option("-f, --follow", "Keep printing what the container writes until it ends.")
    .option("--tail <lines>", "Only the last N lines.")
    .addOption(dirOption())
    .addHelpText("after", "\nExamples:\n  podid sandbox logs podid-demo\n  podid sandbox logs --namespace kube-system podid-nmi-x7k2p -f")
    .action(
      action<{ dir: string; namespace: string; container?: string; follow?: boolean; tail?: string }>(async (o, _ctx, cmd) => {
        const pod = cmd.args[0];
        const info = (await run()).runningSandbox(o.dir);
        const { openKubeSession } = await import("../kube/session.js");
        const kube = openKubeSession({ kubeconfig: info.files.kubeconfig });
        const options = { container: o.container, ...(o.tail !== undefined ? { tailLines: flagNumber("tail", o.tail) } : {}) };
        if (o.follow) await kube.followPodLog(o.namespace, pod, process.stdout, options);
        else process.stdout.write(await kube.podLog(o.namespace, pod, options));
        return undefined;
      }),
    );

  const fault = sandbox.command("fault").description("Switch faults on and off in a running sandbox: throttling, server errors, latency, dropped connections.");
  fault
    .command("add")
    .description("Add a fault rule.")
    .addOption(dirOption())
    .addOption(new Option("--service <service>", "Which service (oidc: the clusters' OIDC issuer host).").choices([...FAULT_SERVICES, "*"]).default("arm"))
    .option("--method <method>", "HTTP method, or * for any.", "*")
    .option("--path <glob>", "Request path glob, * matches anything (e.g. '*/roleAssignments/*').", "*")
    .addOption(new Option("--status <code>", "Answer with this status instead of serving.").choices(["429", "500", "502", "503", "504"]))
    .option("--retry-after <seconds>", "Retry-After header on the answer.", amount("--retry-after", "seconds"))
    .option("--latency <ms>", "Delay before answering, in milliseconds.", amount("--latency", "milliseconds"))
    .option("--count <n>", "Fault only this many matching requests.", positiveInt("--count", 1_000_000))
    .option("--drop", "Close the connection without answering (a reset, or a keep-alive socket the server closed).")
    .addHelpText(
      "after",
      `\nExamples:\n  Throttle the next two role assignment writes:\n    podid sandbox fault add --method PUT --path '*/roleAssignments/*' --status 429 --retry-after 1 --count 2\n  Slow every IMDS answer by 200 ms:\n    podid sandbox fault add --service imds --latency 200\n  Hang up on the next five scale-set updates:\n    podid sandbox fault add --method PATCH --path '*/virtualMachineScaleSets/*' --drop --count 5\n  Make the clusters' OIDC issuer unreachable (Entra ID's token exchange answers AADSTS90061):\n    podid sandbox fault add --service oidc --status 503`,
    )
    .action(
      action<{ dir: string; service: string; method: string; path: string; status?: string; retryAfter?: number; latency?: number; count?: number; drop?: boolean }>(async (o) => {
        if (o.status === undefined && o.latency === undefined && !o.drop) throw new UsageError("a fault needs --status, --latency or --drop", "Pass e.g. --status 429 --retry-after 1, --latency 500, or --drop.");
        if (o.drop && o.status !== undefined) throw new UsageError("--drop and --status cannot be used together", "A dropped connection has no answer: pass one of them.");
        const rule = {
          service: o.service,
          method: o.method.toUpperCase(),
          path: o.path,
          ...(o.status !== undefined ? { status: Number(o.status) } : {}),
          ...(o.retryAfter !== undefined ? { retryAfterSeconds: o.retryAfter } : {}),
          ...(o.latency !== undefined ? { latencyMs: o.latency } : {}),
          ...(o.count !== undefined ? { count: o.count } : {}),
          ...(o.drop ? { drop: true } : {}),
        };
        return (await run()).sandboxAdmin(o.dir, "POST", "faults", rule);
      }),
    );
  fault.command("list").description("List the fault rules in force.").addOption(dirOption()).addHelpText("after", "\nExample:\n  podid sandbox fault list -o table").action(action<{ dir: string }>(async (o) => (await run()).sandboxAdmin(o.dir, "GET", "faults")));
  fault.command("clear").description("Remove every fault rule.").addOption(dirOption()).addHelpText("after", "\nExample:\n  podid sandbox fault clear").action(action<{ dir: string }>(async (o) => (await run()).sandboxAdmin(o.dir, "DELETE", "faults")));

  sandbox
    .command("principal")
    .description("Principals of the sandbox's directory.")
    .command("add")
    .description("Add an application service principal with a client secret (kept in a 0600 file, never printed), and no roles.")
    .addOption(dirOption())
    .option("--display-name <name>", "Display name.", "sandbox-app")
    .addHelpText("after", "\nExample:\n  podid sandbox principal add --display-name no-roles --query secretFile -o tsv")
    .action(
      action<{ dir: string; displayName: string }>(async (o) => {
        const { keepPrincipalSecret, sandboxAdmin } = await run();
        const created = await sandboxAdmin<{ tenantId: string; clientId: string; objectId: string; clientSecret: string }>(o.dir, "POST", "principals", { displayName: o.displayName });
        const secretFile = keepPrincipalSecret(o.dir, created.clientId, created.clientSecret);
        return { tenantId: created.tenantId, clientId: created.clientId, objectId: created.objectId, secretFile };
      }),
    );

  sandbox
    .command("settings")
    .description("Change a running sandbox's settings (with no option, show them).")
    .addOption(dirOption())
    .option("--replication-delay <seconds>", "Seconds a new principal stays unknown to role assignment.", amount("--replication-delay", "seconds", MAX_DELAY_SECONDS))
    .option("--federation-delay <seconds>", "Seconds a new or changed federated identity credential takes to reach Entra ID's token exchange (AADSTS70021 until then).", amount("--federation-delay", "seconds", MAX_DELAY_SECONDS))
    .addHelpText("after", "\nExamples:\n  podid sandbox settings --replication-delay 10\n  podid sandbox settings --federation-delay 5")
    .action(
      action<{ dir: string; replicationDelay?: number; federationDelay?: number }>(async (o) => {
        const changes = {
          ...(o.replicationDelay !== undefined ? { replicationDelaySeconds: o.replicationDelay } : {}),
          ...(o.federationDelay !== undefined ? { federationDelaySeconds: o.federationDelay } : {}),
        };
        const { sandboxAdmin } = await run();
        return Object.keys(changes).length ? sandboxAdmin(o.dir, "PATCH", "settings", changes) : sandboxAdmin(o.dir, "GET", "settings");
      }),
    );

  sandbox
    .command("clock")
    .description("Show the sandbox's clock, or move it forward: tokens expire and the kubelet rotates projected tokens as if the time had passed.")
    .addOption(dirOption())
    .option("--advance <seconds>", "Move the sandbox's time forward by this many seconds (it never goes back).", amount("--advance", "seconds", MAX_CLOCK_OFFSET_SECONDS))
    .addHelpText("after", "\nExamples:\n  podid sandbox clock\n  podid sandbox clock --advance 3600   # an hour later: projected tokens rotated, older tokens expired")
    .action(
      action<{ dir: string; advance?: number }>(async (o) => {
        const { sandboxAdmin } = await run();
        const clock = await sandboxAdmin<{ offsetSeconds: number }>(o.dir, "GET", "clock");
        if (o.advance === undefined) return clock;
        const refusal = clockAdvanceRefusal(clock.offsetSeconds, o.advance);
        if (refusal) throw new UsageError(`argument --advance: ${refusal}`, `Pass a smaller --advance, or start a fresh sandbox (podid sandbox start --fresh --dir ${o.dir}) to reset its clock.`);
        return sandboxAdmin(o.dir, "POST", "clock", { advanceSeconds: o.advance });
      }),
    );

  sandbox
    .command("serve", { hidden: true })
    .description("Run the sandbox in the foreground (what `start` runs in the background).")
    .addOption(dirOption())
    .option("--nodes <n>", "Number of nodes of a new sandbox.", positiveInt("--nodes", 50), 2)
    .option("--replication-delay <seconds>", "Replication delay in seconds.", amount("--replication-delay", "seconds", MAX_DELAY_SECONDS))
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
