import { test } from "node:test";
import assert from "node:assert/strict";
import { createProgressDisplay, formatDuration, type ProgressMode } from "../../src/cli/progress.js";
import { progressMode } from "../../src/cli/context.js";
import { interruption } from "../../src/cli/interrupt.js";
import { ExitCode, InterruptedError } from "../../src/errors/index.js";

/** A display writing into a string, on a clock the test moves. */
function display(mode: ProgressMode, columns = 80) {
  let written = "";
  let now = 1_000;
  const stream = { write: (s: string) => ((written += s), true), columns };
  const p = createProgressDisplay({ mode, stream, color: false, now: () => now, tickMs: 60_000 });
  return { p, out: () => written, advance: (ms: number) => (now += ms) };
}

const CLEAR_LINE = new RegExp(`${String.fromCharCode(27)}\\[2K`, "g");

/** What a terminal shows once every carriage return and line clear has done its work. */
function screen(raw: string): string[] {
  const lines: string[] = [];
  for (const line of raw.split("\n")) {
    const parts = line.split("\r");
    lines.push(parts[parts.length - 1].replace(CLEAR_LINE, ""));
  }
  return lines;
}

test("durations read as people read them", () => {
  assert.deepEqual([40, 1400, 12_000, 125_000, 240_000, 3_720_000].map(formatDuration), ["40ms", "1.4s", "12s", "2m05s", "4m", "1h02m"]);
});

test("on a terminal: one live line per step with elapsed time and limit, each finished step printed once", () => {
  const { p, out, advance } = display("live", 160);
  p.begin("identity app-id");
  advance(300);
  p.end("created");
  p.begin("role Reader at /subscriptions/s/resourceGroups/rg", 240_000);
  p("waiting for Entra ID to replicate principal p1");
  advance(2000);
  p("waiting for Entra ID to replicate principal p1");
  assert.match(screen(out()).at(-1)!, /^⠹ role Reader at \/subscriptions\/s\/resourceGroups\/rg {2}0ms of 4m {2}waiting for Entra ID/);
  p.end("created");
  p.stop();
  const lines = screen(out()).filter(Boolean);
  assert.deepEqual(lines, ["✓ identity app-id: created (300ms)", "✓ role Reader at /subscriptions/s/resourceGroups/rg: created (2.0s)"]);
  assert.equal(out().split("\n").length - 1, 2, "two steps, two lines: nothing printed twice");
});

test("the live line never wraps: a long step name gives way to the time and the state", () => {
  const { p, out } = display("live", 60);
  p.begin(`role Reader at /subscriptions/${"x".repeat(200)}`, 240_000);
  p("waiting");
  const live = screen(out()).at(-1)!;
  assert.ok(live.length <= 60, live);
  assert.match(live, /… {2}0ms of 4m {2}waiting$/);
});

test("a log line written during a step does not tear the live line", () => {
  const { p, out } = display("live");
  p.begin("rollout: MIC and NMI ready", 300_000);
  p.writeLine("WARNING: something");
  const lines = screen(out());
  assert.equal(lines[0], "WARNING: something");
  assert.match(lines[1], /^⠙ rollout: MIC and NMI ready/);
});

test("with --verbose and no terminal: one line per step, and a wait's state only when it changes", () => {
  const { p, out, advance } = display("lines");
  p.begin("rollout: MIC and NMI ready", 300_000);
  for (let i = 0; i < 5; i++) {
    p("mic 0/2 ready, nmi 0/2 ready");
    advance(1000);
  }
  p("mic 2/2 ready, nmi 2/2 ready");
  p.end("ready");
  p.begin("AzureIdentity default/app-id");
  p.end("unchanged");
  assert.deepEqual(out().trimEnd().split("\n"), [
    "INFO: rollout: MIC and NMI ready: mic 0/2 ready, nmi 0/2 ready (0ms of 5m)",
    "INFO: rollout: MIC and NMI ready: mic 2/2 ready, nmi 2/2 ready (5.0s of 5m)",
    "INFO: rollout: MIC and NMI ready: ready (5.0s)",
    "INFO: AzureIdentity default/app-id: unchanged (0ms)",
  ]);
});

test("off (scripts): nothing is printed, but what was done is still known", () => {
  const { p, out } = display("off");
  p.begin("AzureIdentity default/app-id");
  p("state");
  p.end("created");
  assert.equal(out(), "");
  assert.deepEqual(p.finished.map((s) => s.outcome), ["created"]);
});

test("the mode: live on a terminal, lines with --verbose or --debug, never with --only-show-errors", () => {
  const g = { output: "json" as const, outputGiven: false, onlyShowErrors: false, verbose: false, debug: false };
  assert.equal(progressMode(g, true), "live");
  assert.equal(progressMode(g, false), "off");
  assert.equal(progressMode({ ...g, verbose: true }, false), "lines");
  assert.equal(progressMode({ ...g, debug: true }, true), "lines");
  assert.equal(progressMode({ ...g, onlyShowErrors: true }, true), "off");
});

test("Ctrl-C names the step under way and what was already changed", () => {
  const { p } = display("off");
  p.begin("identity app-id");
  p.end("created");
  p.begin("role Reader at /x");
  p.end("unchanged");
  p.begin("AzureIdentity default/app-id");
  const e = interruption(p);
  assert.ok(e instanceof InterruptedError);
  assert.equal(e.exitCode, ExitCode.interrupted);
  assert.equal(e.message, "cancelled during AzureIdentity default/app-id");
  assert.equal(e.remedy, "Already done: identity app-id (created). Re-running the same command finishes the job.");
  assert.equal(interruption(display("off").p).remedy, undefined);
});
