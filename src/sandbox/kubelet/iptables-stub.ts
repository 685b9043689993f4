import { mkdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { NatTable, type NatState } from "./nat-table.js";

/**
 * The `iptables` the sandbox's nodes put first on the PATH of their pods' containers (iptables.ts writes the
 * wrapper): `node iptables-stub.js <table file> <permitted|denied> <iptables arguments...>`. A container that may
 * change the table (root with NET_ADMIN) changes the recorded nat table of its network namespace — the node's for a
 * host-network pod, which the node's metadata address follows — under the xtables lock (`-w` waits for it, as
 * iptables does); any other gets iptables' own refusal. Never the machine's real tables.
 */

const [tablePath, permission, ...args] = process.argv.slice(2);

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function finish(code: number, stdout: string, stderr: string): never {
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exit(code);
}

if (permission !== "permitted") finish(4, "", "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n");

const waitAt = args.findIndex((a) => a === "-w" || a === "--wait");
const waitSeconds = waitAt < 0 ? 0 : /^\d+(\.\d+)?$/.test(args[waitAt + 1] ?? "") ? Number(args[waitAt + 1]) : Infinity;
const lock = `${tablePath}.lock`;
const deadline = Date.now() + Math.min(waitSeconds, 3600) * 1000;
for (;;) {
  try {
    mkdirSync(lock);
    break;
  } catch {
    // A lock left by a process killed while holding it is older than any real holder.
    const held = statSync(lock, { throwIfNoEntry: false });
    if (held && Date.now() - held.mtimeMs > 30_000) rmdirSync(lock);
    else if (Date.now() >= deadline) finish(4, "", `Another app is currently holding the xtables lock. ${waitAt < 0 ? "Perhaps you want to use the -w option?" : `Stopped waiting after ${waitSeconds}s.`}\n`);
    else sleepMs(50);
  }
}
try {
  let state: NatState | undefined;
  try {
    state = JSON.parse(readFileSync(tablePath, "utf8")) as NatState;
  } catch {
    state = undefined;
  }
  const table = new NatTable(state);
  const before = JSON.stringify(table);
  const answer = table.run(args);
  const after = JSON.stringify(table);
  if (after !== before) {
    writeFileSync(`${tablePath}.new`, after, { mode: 0o600 });
    renameSync(`${tablePath}.new`, tablePath);
  }
  rmdirSync(lock);
  finish(answer.code, answer.stdout, answer.stderr);
} catch (err) {
  rmdirSync(lock);
  throw err;
}
