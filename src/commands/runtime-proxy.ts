import type { Command } from "commander";
import { action } from "../cli/action.js";
import { RuntimeCode, RuntimeError, UsageError } from "../errors/index.js";
import { flagPort } from "../cli/flags.js";
import { DEFAULT_PROXY_PORT } from "../kube/workload-identity.js";
import { createLogger, type LogLevel } from "../util/logger.js";

/** Upstream's --log-level values (mlog), and the podid level each means. */
const LOG_LEVELS: Record<string, LogLevel> = { "": "warn", info: "info", debug: "verbose", trace: "debug", all: "debug" };

interface ProxyFlags {
  proxyPort: string;
  probe?: boolean;
  logLevel: string;
}

/** Options of `podid runtime proxy` (upstream's proxy flags); the component is in src/runtime/proxy/. */
export function configureProxy(cmd: Command): void {
  cmd
    .option("--proxy-port <port>", "Port the proxy listens on (localhost only).", String(DEFAULT_PROXY_PORT))
    .option("--probe", "Check that a running proxy answers /readyz, then exit (the sidecar's postStart hook).")
    .option("--log-level <level>", "Log level: '' (warnings), info, debug, trace or all.", "")
    .addHelpText(
      "after",
      `
Environment (what the workload identity webhook injects): AZURE_TENANT_ID, AZURE_AUTHORITY_HOST, AZURE_FEDERATED_TOKEN_FILE,
AZURE_CLIENT_ID (the client id when a request names none).

Examples:
  The sidecar the workload identity webhook injects with azure.workload.identity/inject-proxy-sidecar:
    podid runtime proxy --proxy-port=${DEFAULT_PROXY_PORT} --log-level=info
  An IMDS-style request in the pod, answered with a token from the pod's federated credential:
    curl -H Metadata:true "http://localhost:${DEFAULT_PROXY_PORT}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"`,
    )
    .action(
      action<ProxyFlags>(async (flags, ctx) => {
        const port = flagPort("proxy-port", flags.proxyPort);
        const level = LOG_LEVELS[flags.logLevel];
        if (level === undefined) throw new UsageError(`argument --log-level: invalid choice: '${flags.logLevel}'`, "Use one of '', info, debug, trace, all.");
        const { probeProxy, proxyEnvironment, startProxy } = await import("../runtime/proxy/proxy.js");
        if (flags.probe) {
          if (!(await probeProxy(port))) throw new RuntimeError(RuntimeCode.ProxyNotReady, `the proxy on localhost:${port} did not answer /readyz`, { remedy: "Look at the proxy container's log." });
          return undefined;
        }
        const env = proxyEnvironment(process.env);
        if ("missing" in env) throw new RuntimeError(RuntimeCode.ProxySetupFailed, `${env.missing} not set`, { remedy: "Run the proxy in a pod the workload identity webhook mutated (label azure.workload.identity/use: \"true\")." });
        const logger = createLogger(ctx.logger.level === "warn" ? level : ctx.logger.level, (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`), "proxy: ");
        const proxy = await startProxy({ port, env, logger });
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once("SIGTERM", stop);
          process.once("SIGINT", stop);
        });
        logger.info("shutting down the proxy server");
        await proxy.close();
        return undefined;
      }),
    );
}
