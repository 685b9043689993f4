import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { METADATA_CHAIN } from "../../aadpodidentity/contract/names.js";

const run = promisify(execFile);

export interface RedirectRule {
  metadataIp: string;
  metadataPort: number;
  /** Where pods' metadata traffic goes: NMI's address and port on this node. */
  targetIp: string;
  targetPort: number;
}

/** `iptables -t nat -S aad-metadata` as it must read; anything else is flushed and rewritten. */
export function expectedChain(rule: RedirectRule): string[] {
  return [
    `-N ${METADATA_CHAIN}`,
    `-A ${METADATA_CHAIN} ! -s 127.0.0.1/32 -d ${rule.metadataIp}/32 -p tcp -m tcp --dport ${rule.metadataPort} -j DNAT --to-destination ${rule.targetIp}:${rule.targetPort}`,
    `-A ${METADATA_CHAIN} -j RETURN`,
  ];
}

export class IptablesError extends Error {
  constructor(
    message: string,
    /** The binary is missing or this process may not change the tables (not root / no NET_ADMIN). */
    readonly notPermitted: boolean,
  ) {
    super(message);
    this.name = "IptablesError";
  }
}

/** Runs the iptables binary (the -w lock wait shares /run/xtables.lock with kube-proxy). */
export type IptablesRunner = (args: string[]) => Promise<{ ok: boolean; stdout: string; stderr: string }>;

export const iptablesBinary =
  (binary = "iptables"): IptablesRunner =>
  async (args) => {
    try {
      const { stdout, stderr } = await run(binary, ["-w", "5", ...args], { timeout: 15_000 });
      return { ok: true, stdout, stderr };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: string | number };
      if (e.code === "ENOENT") throw new IptablesError(`${binary} is not installed`, true);
      const stderr = e.stderr ?? "";
      if (/Permission denied|you must be root/i.test(stderr)) throw new IptablesError(`${binary}: ${stderr.trim()}`, true);
      return { ok: false, stdout: e.stdout ?? "", stderr };
    }
  };

/**
 * Makes the nat table hold the redirect: the chain exists, PREROUTING jumps to it first, and its rules are
 * exactly the expected ones (else flushed and rewritten). Returns what it changed, for the log.
 */
export async function ensureRedirect(iptables: IptablesRunner, rule: RedirectRule): Promise<string[]> {
  const changed: string[] = [];
  const nat = (...args: string[]) => iptables(["-t", "nat", ...args]);
  const must = async (...args: string[]) => {
    const r = await nat(...args);
    if (!r.ok) throw new IptablesError(`iptables -t nat ${args.join(" ")}: ${r.stderr.trim()}`, false);
    return r;
  };
  let listed = await nat("-S", METADATA_CHAIN);
  if (!listed.ok) {
    await must("-N", METADATA_CHAIN);
    changed.push(`created chain ${METADATA_CHAIN}`);
    listed = await must("-S", METADATA_CHAIN);
  }
  if (!(await nat("-C", "PREROUTING", "-j", METADATA_CHAIN)).ok) {
    await must("-I", "PREROUTING", "1", "-j", METADATA_CHAIN);
    changed.push(`inserted the jump to ${METADATA_CHAIN} at the top of PREROUTING`);
  }
  const actual = listed.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
  const expected = expectedChain(rule);
  if (actual.length !== expected.length || actual.some((l, i) => l !== expected[i])) {
    await must("-F", METADATA_CHAIN);
    await must("-A", METADATA_CHAIN, "!", "-s", "127.0.0.1/32", "-d", `${rule.metadataIp}/32`, "-p", "tcp", "-m", "tcp", "--dport", String(rule.metadataPort), "-j", "DNAT", "--to-destination", `${rule.targetIp}:${rule.targetPort}`);
    await must("-A", METADATA_CHAIN, "-j", "RETURN");
    changed.push(`flushed iptables chain ${METADATA_CHAIN} and added the redirect to ${rule.targetIp}:${rule.targetPort}`);
  }
  return changed;
}

/** Removes the jump and the chain; absent pieces are fine. */
export async function removeRedirect(iptables: IptablesRunner): Promise<void> {
  const nat = (...args: string[]) => iptables(["-t", "nat", ...args]);
  while ((await nat("-C", "PREROUTING", "-j", METADATA_CHAIN)).ok) {
    const r = await nat("-D", "PREROUTING", "-j", METADATA_CHAIN);
    if (!r.ok) throw new IptablesError(`iptables -t nat -D PREROUTING -j ${METADATA_CHAIN}: ${r.stderr.trim()}`, false);
  }
  if ((await nat("-S", METADATA_CHAIN)).ok) {
    await nat("-F", METADATA_CHAIN);
    const r = await nat("-X", METADATA_CHAIN);
    if (!r.ok) throw new IptablesError(`iptables -t nat -X ${METADATA_CHAIN}: ${r.stderr.trim()}`, false);
  }
}
