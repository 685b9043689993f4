import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { IMAGE_USER } from "./images.js";
import { NatTable, type NatState } from "./nat-table.js";
import type { ContainerSpec, Pod } from "./pod.js";

/**
 * The nat tables of the sandbox's network namespaces — one per node (shared by its host-network pods), one per pod
 * otherwise — kept as files that the `iptables` of the pods' containers (iptables-stub.ts) changes, and that the
 * node's metadata address follows (metadata-address.ts). What NMI installs decides where pods' metadata traffic
 * goes, as on a node; nothing here ever touches the machine's own tables.
 */

const STUB = fileURLToPath(new URL("./iptables-stub.js", import.meta.url));
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** A namespace's table, as recorded (empty when nothing was ever installed). */
export function readNatTable(tablePath: string): NatTable {
  try {
    return new NatTable(JSON.parse(readFileSync(tablePath, "utf8")) as NatState);
  } catch {
    return new NatTable();
  }
}

/** A namespace as it comes up: an empty table (a node that boots, a pod's new namespace), no lock held. */
export function resetNatTable(tablePath: string): void {
  mkdirSync(dirname(tablePath), { recursive: true, mode: 0o700 });
  rmSync(tablePath, { force: true });
  rmSync(`${tablePath}.lock`, { recursive: true, force: true });
}

/**
 * Whether a container may change its namespace's nat table: it runs as root (its runAsUser, else the pod's, else
 * the image's user) with NET_ADMIN added, or privileged.
 */
export function mayChangeNetfilter(container: ContainerSpec, pod: Pod): boolean {
  const context = container.securityContext ?? {};
  const uid = context.runAsUser ?? pod.spec.securityContext?.runAsUser ?? IMAGE_USER;
  const netAdmin = (context.capabilities?.add ?? []).some((c) => c.replace(/^CAP_/, "") === "NET_ADMIN");
  return context.privileged === true || (uid === 0 && netAdmin);
}

/** The directory holding the `iptables` a container finds first on its PATH, for a table and a permission. */
export function iptablesBinDir(tablePath: string, permitted: boolean): string {
  const dir = join(dirname(tablePath), permitted ? "iptables-permitted" : "iptables-denied");
  const script = `#!/bin/sh\nexec ${[process.execPath, STUB, tablePath, permitted ? "permitted" : "denied"].map(quote).join(" ")} "$@"\n`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, "iptables");
  try {
    if (readFileSync(file, "utf8") === script) return dir;
  } catch {
    // not written yet
  }
  // Replaced whole: another container of the node may be running it right now.
  const next = `${file}.${randomBytes(6).toString("hex")}`;
  writeFileSync(next, script, { mode: 0o755 });
  renameSync(next, file);
  return dir;
}
