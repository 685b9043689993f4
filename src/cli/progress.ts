import { Chalk } from "chalk";
import type { Progress } from "../util/progress.js";

/**
 * How progress is shown: `live` on a terminal (one line per step, redrawn in place with a spinner, elapsed time
 * and limit; a finished step printed once), `lines` in logs (`--verbose` without a terminal, or `--debug`: one line
 * per finished step, and a wait's state each time it changes), `off` (scripts; `--only-show-errors`).
 */
export type ProgressMode = "live" | "lines" | "off";

export interface FinishedStep {
  step: string;
  outcome: string;
  elapsedMs: number;
}

export interface ProgressDisplay extends Progress {
  begin(step: string, limitMs?: number): void;
  end(outcome: string): void;
  /** Writes a whole line (a log line, a warning) without breaking the live line. */
  writeLine(line: string): void;
  /** The steps that ended, in order. */
  readonly finished: readonly FinishedStep[];
  /** The step under way, if any. */
  readonly current: string | undefined;
  /** Clears the live line; nothing is drawn after this, but steps are still recorded. */
  stop(): void;
}

export interface ProgressOptions {
  mode: ProgressMode;
  stream: Pick<NodeJS.WriteStream, "write"> & { columns?: number };
  color: boolean;
  now?: () => number;
  /** How often the live line is redrawn. */
  tickMs?: number;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** 40ms, 1.4s, 12s, 2m05s, 1h02m: elapsed times and limits as people read them. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${m}m`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function fit(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

interface Running {
  step: string | undefined;
  limitMs?: number;
  startedAt: number;
  state?: string;
}

export function createProgressDisplay(options: ProgressOptions): ProgressDisplay {
  const now = options.now ?? Date.now;
  const chalk = new Chalk({ level: options.color ? 1 : 0 });
  const out = options.stream;
  const finished: FinishedStep[] = [];
  let running: Running | undefined;
  let stopped = options.mode === "off";
  let drawn = false;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;

  const timing = (r: Running) => `${formatDuration(now() - r.startedAt)}${r.limitMs ? ` of ${formatDuration(r.limitMs)}` : ""}`;
  const live = () => options.mode === "live" && !stopped;

  const clear = () => {
    if (drawn) out.write("\r\x1b[2K");
    drawn = false;
  };
  const draw = () => {
    if (!live() || !running) return;
    // Never wider than the terminal (a wrapped line cannot be redrawn in place); a long step name gives way first.
    const room = Math.max(10, (out.columns || 80) - 3);
    const tail = [timing(running), running.state].filter(Boolean).join("  ");
    const text = running.step ? `${fit(running.step, Math.max(20, room - tail.length - 2))}  ${tail}` : tail;
    out.write(`\r\x1b[2K${chalk.cyan(SPINNER[frame++ % SPINNER.length])} ${fit(text, room)}`);
    drawn = true;
  };
  const startTimer = () => {
    if (!live() || timer) return;
    timer = setInterval(draw, options.tickMs ?? 100);
    timer.unref();
  };
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  const line = (text: string) => {
    if (stopped) return;
    clear();
    out.write(`${text}\n`);
    draw();
  };

  const display = ((state: string) => {
    if (!running) running = { step: undefined, startedAt: now() };
    if (state === running.state) return;
    running.state = state;
    if (options.mode === "lines") line(`INFO: ${running.step ? `${running.step}: ` : ""}${state} (${timing(running)})`);
    else {
      startTimer();
      draw();
    }
  }) as ProgressDisplay;

  display.begin = (step: string, limitMs?: number) => {
    running = { step, limitMs, startedAt: now() };
    startTimer();
    draw();
  };
  display.end = (outcome: string) => {
    if (!running?.step) return;
    const elapsedMs = now() - running.startedAt;
    finished.push({ step: running.step, outcome, elapsedMs });
    const step = running.step;
    running = undefined;
    stopTimer();
    if (options.mode === "live") line(`${chalk.green("✓")} ${step}: ${outcome} ${chalk.gray(`(${formatDuration(elapsedMs)})`)}`);
    else if (options.mode === "lines") line(`INFO: ${step}: ${outcome} (${formatDuration(elapsedMs)})`);
  };
  display.writeLine = (text: string) => {
    if (drawn) clear();
    out.write(`${text}\n`);
    draw();
  };
  display.stop = () => {
    stopTimer();
    clear();
    stopped = true;
  };
  Object.defineProperty(display, "finished", { get: () => finished });
  Object.defineProperty(display, "current", { get: () => running?.step });
  return display;
}
