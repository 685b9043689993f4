import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";

/**
 * Container output kept as the kubelet keeps it: one file per container run, CRI lines
 * (`<RFC3339 time> <stream> F <text>`), read back as `kubectl logs` shows it.
 */

export interface LogOptions {
  previous?: boolean;
  tailLines?: number;
  timestamps?: boolean;
  sinceSeconds?: number;
  limitBytes?: number;
  follow?: boolean;
}

export function runLogPath(containerDir: string, run: number): string {
  return join(containerDir, `${run}.log`);
}

/** Writes one container run's stdout and stderr, line by line. */
export class LogWriter {
  private readonly partial: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };

  constructor(readonly path: string) {
    mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
    if (!existsSync(path)) appendFileSync(path, "", { mode: 0o600 });
  }

  write(stream: "stdout" | "stderr", chunk: Buffer | string): void {
    const text = this.partial[stream] + chunk.toString();
    const lines = text.split("\n");
    this.partial[stream] = lines.pop() ?? "";
    if (lines.length) appendFileSync(this.path, lines.map((l) => `${new Date().toISOString()} ${stream} F ${l}\n`).join(""));
  }

  /** A last line without a newline is written as a partial (P) line, as CRI does. */
  end(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream]) appendFileSync(this.path, `${new Date().toISOString()} ${stream} P ${this.partial[stream]}\n`);
      this.partial[stream] = "";
    }
  }
}

interface CriLine {
  time: string;
  text: string;
  partial: boolean;
}

function parse(content: string): CriLine[] {
  const out: CriLine[] = [];
  for (const raw of content.split("\n")) {
    const m = /^(\S+) (?:stdout|stderr) ([FP]) (.*)$/.exec(raw);
    if (m) out.push({ time: m[1], partial: m[2] === "P", text: m[3] });
  }
  return out;
}

function render(lines: CriLine[], options: LogOptions): string {
  return lines.map((l) => `${options.timestamps ? `${l.time} ` : ""}${l.text}${l.partial ? "" : "\n"}`).join("");
}

function select(lines: CriLine[], options: LogOptions, now: number): CriLine[] {
  let out = lines;
  if (options.sinceSeconds !== undefined) out = out.filter((l) => Date.parse(l.time) >= now - options.sinceSeconds! * 1000);
  if (options.tailLines !== undefined) out = options.tailLines <= 0 ? [] : out.slice(-options.tailLines);
  return out;
}

function limit(text: string, options: LogOptions): string {
  return options.limitBytes !== undefined ? Buffer.from(text).subarray(0, options.limitBytes).toString() : text;
}

export function readLog(path: string, options: LogOptions): string {
  const content = existsSync(path) ? readFileSync(path, "utf8") : "";
  return limit(render(select(parse(content), options, Date.now()), options), options);
}

/**
 * The log so far, then what is appended, until `running()` turns false (the run ended) or the reader goes away.
 */
export function followLog(path: string, options: LogOptions, running: () => boolean, signal: AbortSignal, pollMs = 200): Readable {
  let offset = 0;
  let carry = "";
  let sent = 0;
  const stream = new Readable({ read() {} });
  const push = (text: string): boolean => {
    if (!text) return true;
    const room = options.limitBytes !== undefined ? options.limitBytes - sent : Infinity;
    const chunk = room < Buffer.byteLength(text) ? Buffer.from(text).subarray(0, Math.max(0, room)).toString() : text;
    sent += Buffer.byteLength(chunk);
    stream.push(chunk);
    return options.limitBytes === undefined || sent < options.limitBytes;
  };
  const readNew = (first: boolean): boolean => {
    if (!existsSync(path)) return true;
    const size = statSync(path).size;
    if (size <= offset) return true;
    const buf = Buffer.alloc(size - offset);
    const fd = openSync(path, "r");
    try {
      readSync(fd, buf, 0, buf.length, offset);
    } finally {
      closeSync(fd);
    }
    offset = size;
    const text = carry + buf.toString();
    const cut = text.lastIndexOf("\n") + 1;
    carry = text.slice(cut);
    const lines = parse(text.slice(0, cut));
    return push(render(first ? select(lines, options, Date.now()) : lines, options));
  };
  let timer: NodeJS.Timeout | undefined;
  const finish = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    stream.push(null);
  };
  const tick = (first: boolean) => {
    if (signal.aborted) return finish();
    const more = readNew(first);
    if (!more || !running()) {
      if (more) readNew(false);
      return finish();
    }
    timer = setTimeout(() => tick(false), pollMs);
  };
  signal.addEventListener("abort", finish, { once: true });
  tick(true);
  return stream;
}
