import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { SandboxCode, SandboxError } from "../errors/index.js";
import { CLI_ENTRY } from "../util/package-info.js";
import { sandboxLayout, type SandboxRuntimeInfo } from "./layout.js";

export type SandboxStatus =
  | { status: "running"; info: SandboxRuntimeInfo }
  | { status: "stopped"; dir: string };

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Guards against a recycled pid: the process must be a podid sandbox serving this very directory. */
function isOurDaemon(pid: number, dir: string): boolean {
  if (!isAlive(pid)) return false;
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return true;
  const args = readFileSync(cmdline, "utf8").split("\0");
  return args.includes("serve") && args.includes(dir);
}

export function readRuntime(dir: string): SandboxRuntimeInfo | undefined {
  const layout = sandboxLayout(dir);
  if (!existsSync(layout.runtime)) return undefined;
  try {
    return JSON.parse(readFileSync(layout.runtime, "utf8")) as SandboxRuntimeInfo;
  } catch {
    return undefined;
  }
}

export function sandboxStatus(dir: string): SandboxStatus {
  const layout = sandboxLayout(dir);
  const info = readRuntime(layout.dir);
  if (info && isOurDaemon(info.pid, layout.dir)) return { status: "running", info };
  return { status: "stopped", dir: layout.dir };
}

function logTail(path: string, lines = 15): string {
  if (!existsSync(path)) return "";
  return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

export interface StartOptions {
  dir: string;
  nodes: number;
  replicationDelaySeconds?: number;
  timeoutMs: number;
}

/**
 * Starts the sandbox as a detached background process and resolves once it reports ready (over an IPC
 * channel that is then closed), or rejects with the reason and the log's last lines.
 */
export async function startSandboxProcess(options: StartOptions): Promise<SandboxRuntimeInfo> {
  const layout = sandboxLayout(options.dir);
  mkdirSync(layout.dir, { recursive: true });
  const logFd = openSync(layout.log, "a");
  const args = [CLI_ENTRY, "sandbox", "serve", "--dir", layout.dir, "--nodes", String(options.nodes)];
  if (options.replicationDelaySeconds !== undefined) args.push("--replication-delay", String(options.replicationDelaySeconds));
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", logFd, logFd, "ipc"],
    env: process.env,
  });
  closeSync(logFd);
  try {
    return await new Promise<SandboxRuntimeInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGTERM");
        reject(
          new SandboxError(SandboxCode.SandboxStartTimeout, `the sandbox did not become ready within ${options.timeoutMs / 1000}s`, {
            remedy: `See ${layout.log}; then run \`podid sandbox start --dir ${options.dir}\` again.\n${logTail(layout.log)}`,
          }),
        );
      }, options.timeoutMs);
      child.once("message", (message) => {
        clearTimeout(timer);
        resolve((message as { ready: SandboxRuntimeInfo }).ready);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(
          new SandboxError(SandboxCode.SandboxStartFailed, `the sandbox process exited (${signal ?? `code ${code}`}) before it was ready`, {
            remedy: `Read ${layout.log} for the cause; \`podid sandbox start --fresh\` starts from a clean state.\n${logTail(layout.log)}`,
          }),
        );
      });
    });
  } finally {
    child.removeAllListeners();
    if (child.connected) child.disconnect();
    child.unref();
  }
}

/** Stops the sandbox process gracefully (SIGTERM), forcefully after the timeout. Returns whether one ran. */
export async function stopSandboxProcess(dir: string, timeoutMs = 10_000): Promise<boolean> {
  const status = sandboxStatus(dir);
  if (status.status !== "running") return false;
  const pid = status.info.pid;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
  while (isAlive(pid)) await sleep(20);
  return true;
}
