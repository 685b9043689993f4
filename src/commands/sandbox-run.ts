// The sandbox commands' actions: what they read, start and print. Loaded by an action when it runs
// (src/commands/sandbox.ts holds the definitions), so that help and usage errors never load processes or HTTPS.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxCode, SandboxError, UsageCode, UsageError } from "../errors/index.js";
import { sandboxLayout, type SandboxRuntimeInfo } from "../sandbox/layout.js";
import { readRuntime } from "../sandbox/lifecycle.js";
import { sandboxEnvVars } from "../sandbox/environment.js";
import { SECRET_FILE_MODE, writeFileAtomic } from "../util/files.js";

export { sandboxStatus, startSandboxProcess, stopSandboxProcess } from "../sandbox/lifecycle.js";
export { sandboxAdmin } from "../sandbox/admin-client.js";
export { wipeSandbox } from "../sandbox/wipe.js";
export { sandboxLayout };

/** What `start` and `status` print: endpoints and files, never a secret. */
export function describe(info: SandboxRuntimeInfo, status: string) {
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

/** The variables `sandbox env` sets: a secret only by the file that holds it, never its value. */
export function envVariables(info: SandboxRuntimeInfo): { name: string; value?: string; file?: string }[] {
  return sandboxEnvVars(info).map(([name, v]) => ({ name, ...v }));
}

export function envLines(variables: { name: string; value?: string; file?: string }[]): string {
  // The secret is read from its 0600 file when the line is evaluated, so it is never printed.
  return variables.map((v) => `export ${v.name}=${v.file !== undefined ? `"$(cat ${shellQuote(v.file)})"` : shellQuote(v.value ?? "")}`).join("\n");
}

export function runningSandbox(dir: string): SandboxRuntimeInfo {
  const info = readRuntime(dir);
  if (!info) {
    throw new SandboxError(SandboxCode.SandboxNotRunning, `no running sandbox in ${sandboxLayout(dir).dir}`, { remedy: `Start it first: podid sandbox start --dir ${dir}` });
  }
  return info;
}

export function readFaultsFile(path: string): unknown[] {
  try {
    const rules = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (!Array.isArray(rules)) throw new Error("expected a JSON array of rules");
    return rules;
  } catch (err) {
    throw new UsageError(`--faults ${path}: ${(err as Error).message}`, 'Give a JSON array such as [{"service":"arm","method":"PUT","path":"*/roleAssignments/*","status":429,"retryAfterSeconds":1,"count":1}].', UsageCode.InvalidFaults);
  }
}

/** Writes a new principal's secret to a 0600 file beside the sandbox's state; the path is what is printed. */
export function keepPrincipalSecret(dir: string, clientId: string, secret: string): string {
  const secretFile = join(sandboxLayout(dir).state, `principal-${clientId}.secret`);
  writeFileAtomic(secretFile, secret, SECRET_FILE_MODE);
  return secretFile;
}
