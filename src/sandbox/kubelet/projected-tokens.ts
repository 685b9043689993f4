import { join } from "node:path";
import { SECRET_FILE_MODE, writeFileAtomic } from "../../util/files.js";

/** A `projected.sources[].serviceAccountToken` of a pod's volume. */
export interface ServiceAccountTokenProjection {
  path: string;
  audience?: string;
  expirationSeconds?: number;
}

/** What the kubelet asks the API server for (TokenRequest bound to the pod); the TokenRequest's status. */
export type TokenSource = (projection: ServiceAccountTokenProjection) => Promise<{ token: string; expirationTimestamp: string }>;

interface Projected {
  file: string;
  projection: ServiceAccountTokenProjection;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** The kubelet refreshes a token at 80% of its life at the latest, and any token older than a day. */
const MAX_AGE_MS = 24 * 3600 * 1000;

/** Whether the kubelet's token manager would fetch a new token now (requiresRefresh, without its jitter). */
export function tokenNeedsRefresh(issuedAtMs: number, expiresAtMs: number, nowMs: number): boolean {
  const ttl = expiresAtMs - issuedAtMs;
  return nowMs >= issuedAtMs + MAX_AGE_MS || nowMs >= expiresAtMs - ttl * 0.2;
}

/**
 * The projected service-account tokens of one pod: written into their volumes (0600), then rewritten with a fresh
 * token whenever one has lived 80% of its life, as the kubelet does, on the sandbox clock. The file is replaced
 * atomically, so a reader sees the old token or the new one.
 */
export class ProjectedTokens {
  private readonly tokens: Projected[] = [];
  private refreshing?: Promise<void>;

  constructor(
    private readonly request: TokenSource,
    private readonly now: () => number,
  ) {}

  async project(volumeDir: string, projection: ServiceAccountTokenProjection): Promise<void> {
    const entry: Projected = { file: join(volumeDir, projection.path), projection, issuedAtMs: 0, expiresAtMs: 0 };
    await this.fetch(entry);
    this.tokens.push(entry);
  }

  /** Rewrites the tokens due for refresh; one refresh at a time. */
  refresh(): Promise<void> {
    // `.finally` runs after the assignment, even when nothing was due and the work finished at once.
    this.refreshing ??= this.refreshDue().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refreshDue(): Promise<void> {
    const now = this.now();
    for (const entry of this.tokens) if (tokenNeedsRefresh(entry.issuedAtMs, entry.expiresAtMs, now)) await this.fetch(entry);
  }

  private async fetch(entry: Projected): Promise<void> {
    const answer = await this.request(entry.projection);
    const expiresAtMs = Date.parse(answer.expirationTimestamp);
    writeFileAtomic(entry.file, answer.token, SECRET_FILE_MODE);
    entry.expiresAtMs = expiresAtMs;
    entry.issuedAtMs = expiresAtMs - (entry.projection.expirationSeconds ?? 3600) * 1000;
  }
}
