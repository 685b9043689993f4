import { spawn, spawnSync } from "node:child_process";
import { CLI } from "./cli.js";
import { eventually } from "./eventually.js";

/** util-linux `script` runs a command in a pseudo-terminal: stdin, stdout and stderr are a TTY for it. */
export const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;

export interface PtyRun {
  /** Everything the terminal received so far (stdout and stderr both), raw. */
  output(): string;
  /** Types into the terminal: "\x03" is Ctrl-C, "\r" is Enter. */
  type(keys: string): void;
  /** Waits until the terminal shows what `pattern` matches. */
  shows(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The command's exit code (`script -e` passes it on). */
  exited: Promise<number>;
}

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Runs the built CLI in a pseudo-terminal of `columns` columns; the test stops it by waiting for `exited`. */
export function runPodidInPty(args: string[], env: NodeJS.ProcessEnv, columns = 200): PtyRun {
  const command = `stty cols ${columns} rows 50; exec ${[process.execPath, CLI, ...args].map(quote).join(" ")}`;
  const child = spawn("script", ["-qefc", command, "/dev/null"], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
  return {
    output: () => output,
    type: (keys) => void child.stdin.write(keys),
    shows: async (pattern, timeoutMs = 60_000) => {
      await eventually(`the terminal to show ${pattern}`, () => pattern.test(output), { timeoutMs, intervalMs: 100, context: () => `terminal so far:\n${output}` });
    },
    exited,
  };
}

/** Why a terminal cannot be had here (for a test's skip), or false. */
export const NO_PTY: string | false = !hasScript && "util-linux `script` is not installed";

/**
 * Runs the CLI in a pseudo-terminal for `run`, which drives it by waiting for what the terminal shows before typing;
 * if the command has not ended when `run` does (or throws), it is interrupted (Ctrl-C) and awaited.
 */
export async function withPodidInPty<T>(args: string[], env: NodeJS.ProcessEnv, run: (pty: PtyRun) => Promise<T>): Promise<T> {
  const pty = runPodidInPty(args, env);
  let ended = false;
  void pty.exited.then(() => (ended = true));
  try {
    return await run(pty);
  } finally {
    if (!ended) {
      pty.type("\x03");
      await pty.exited;
    }
  }
}

/** The terminal's escape character, for patterns that look for control sequences. */
export const ESC = String.fromCharCode(27);
const CONTROL_SEQUENCE = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, "g");

/** What the terminal shows at the end: each line as the last carriage return left it, without control sequences. */
export function screenLines(raw: string): string[] {
  return raw
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => line.split("\r").at(-1)!.replace(CONTROL_SEQUENCE, ""));
}
