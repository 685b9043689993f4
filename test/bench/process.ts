import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";

/**
 * Peak memory of a child comes from GNU time (`/usr/bin/time -f %M`: the kernel's ru_maxrss of the process it
 * waits for) when the machine has it; otherwise from the child itself, through a preloaded module that writes
 * `process.resourceUsage().maxRSS` when it exits (Node processes only). Wall time is measured here around the
 * whole spawn, so both ways add the same small fork cost to the command and to its baseline.
 */
const GNU_TIME = "/usr/bin/time";
const hasGnuTime = existsSync(GNU_TIME);
export const PEAK_RSS_SOURCE = hasGnuTime ? "GNU time %M" : "process.resourceUsage().maxRSS";

export interface ProcessSample {
  wallMs: number;
  /** Peak resident memory (MiB). */
  peakMiB: number;
  code: number;
  stdout: string;
  stderr: string;
}

const PRELOAD = `process.on("exit", () => require("node:fs").writeFileSync(process.env.PODID_BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));`;

/** Runs `command args` to completion (stdout and stderr collected), timing it and reading its peak memory. */
export async function measure(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ProcessSample> {
  const dir = mkdtempSync(join(tmpdir(), "podid-bench-rss-"));
  const rssFile = join(dir, "rss");
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...options.env };
    let file = command;
    let argv = args;
    if (hasGnuTime) {
      file = GNU_TIME;
      argv = ["-q", "-f", "%M", "-o", rssFile, command, ...args];
    } else {
      env.PODID_BENCH_RSS_FILE = rssFile;
      env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --require ${JSON.stringify(writePreload(dir))}`.trim();
    }
    const started = process.hrtime.bigint();
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(file, argv, { env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c ?? 1, stdout: out, stderr: err }));
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const kib = Number(readFileSync(rssFile, "utf8").trim().split("\n").at(-1));
    return { wallMs, peakMiB: kib / 1024, code, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writePreload(dir: string): string {
  const path = join(dir, "preload.cjs");
  // Written per run into the run's own directory: nothing shared between runs.
  writeFileSync(path, PRELOAD);
  return path;
}

/** `measure`, failing loudly when the command did not succeed: a figure of a failed command means nothing. */
export async function measureOk(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ProcessSample> {
  const s = await measure(command, args, options);
  if (s.code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${s.code}: ${s.stderr.slice(-800)}`);
  return s;
}

/** The floor every CLI figure is compared with: Node starting and doing nothing. */
export const NODE_FLOOR = { name: "node -e 0", args: ["-e", "0"] };

/**
 * `runs` paired runs of `subject` and of the `node -e 0` floor, interleaved so that load on the machine falls on
 * both alike.
 */
export async function paired(runs: number, subject: () => Promise<ProcessSample>): Promise<{ subject: ProcessSample[]; floor: ProcessSample[] }> {
  const r = await pairedRounds(runs, { subject });
  return { subject: r.subject, floor: r.floor };
}

/**
 * `runs` rounds, each running the `node -e 0` floor and then every subject once, so that every subject's run i can be
 * paired with the floor's run i, or with another subject's run i (e.g. a command against its own launcher's floor).
 */
export async function pairedRounds<K extends string>(runs: number, subjects: Record<K, () => Promise<ProcessSample>>): Promise<Record<K | "floor", ProcessSample[]>> {
  const out = { floor: [] as ProcessSample[] } as Record<K | "floor", ProcessSample[]>;
  const names = Object.keys(subjects) as K[];
  for (const name of names) out[name] = [];
  for (let i = 0; i < runs; i++) {
    out.floor.push(await measureOk(process.execPath, NODE_FLOOR.args));
    for (const name of names) out[name].push(await subjects[name]());
  }
  return out;
}

/**
 * A child process started with `args`, once its output (kept in a file, so that reading what it logs costs this
 * process nothing while it is under load) matches `ready`; the match is returned, and what it printed can be read.
 */
export async function startChild(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ match: RegExpExecArray; output(): string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "podid-bench-child-"));
  const log = join(dir, "output");
  const fd = openSync(log, "w");
  const child = spawn(process.execPath, args, { stdio: ["ignore", fd, fd], env: { ...process.env, NO_COLOR: "1", ...env } });
  closeSync(fd);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => child.once("exit", (code) => resolve(void (exitCode = code))));
  const stop = async () => {
    child.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const started = Date.now();
  for (;;) {
    const seen = readFileSync(log, "utf8");
    const match = ready.exec(seen);
    if (match) return { match, output: () => readFileSync(log, "utf8"), stop };
    if (exitCode !== undefined || Date.now() - started > 60_000) {
      await stop();
      throw new Error(`${exitCode !== undefined ? `exited with ${exitCode}` : "not ready within 60 s"}: ${seen.slice(-500)}`);
    }
    await sleep(50);
  }
}
