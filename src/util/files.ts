import { mkdirSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, chmodSync } from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";

/** Writes a file so that readers see the old or the new content, never a torn one. */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, data, { mode });
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // writeFileSync's mode is masked by umask; secrets must be exactly 0600.
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

export const SECRET_FILE_MODE = 0o600;
