import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NETWORK_RANGE, randomNetwork } from "./azure/seed.js";
import { isAlive } from "./lifecycle.js";

/**
 * Each running sandbox owns a loopback network 127.<n>.0.0/16 for its nodes and pods, claimed by a file holding
 * its pid in the machine's temp dir, so sandboxes running side by side (parallel tests) never share an address.
 * A claim whose process is gone is stale and taken over.
 */

const CLAIMS = join(tmpdir(), "podid-sandbox-networks");

function tryClaim(network: number): boolean {
  const path = join(CLAIMS, String(network));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(path, "utf8").trim());
      if (holder === process.pid) return true;
      if (holder && isAlive(holder)) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

export interface NetworkClaim {
  network: number;
  release(): void;
}

/** Claims `wanted` (a sandbox's saved network), or any free one when none is wanted. */
export function claimNetwork(wanted: number | undefined): NetworkClaim {
  mkdirSync(CLAIMS, { recursive: true, mode: 0o1777 });
  const release = (network: number) => () => {
    try {
      if (Number(readFileSync(join(CLAIMS, String(network)), "utf8").trim()) === process.pid) rmSync(join(CLAIMS, String(network)), { force: true });
    } catch {
      // Already gone.
    }
  };
  if (wanted !== undefined) {
    if (!tryClaim(wanted)) {
      throw new Error(`another running sandbox uses the network 127.${wanted}.0.0/16 this sandbox's nodes are on: stop it, or start this one with --fresh`);
    }
    return { network: wanted, release: release(wanted) };
  }
  const span = NETWORK_RANGE.max - NETWORK_RANGE.min + 1;
  for (let i = 0, start = randomNetwork(); i < span; i++) {
    const network = NETWORK_RANGE.min + ((start - NETWORK_RANGE.min + i) % span);
    if (tryClaim(network)) return { network, release: release(network) };
  }
  throw new Error(`every sandbox network 127.${NETWORK_RANGE.min}-${NETWORK_RANGE.max}.0.0/16 is in use: stop a sandbox`);
}
