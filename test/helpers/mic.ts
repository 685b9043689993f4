import type { KubeConfig } from "@kubernetes/client-node";
import { KubeSession } from "../../src/kube/session.js";
import { startMic, type Mic, type MicOptions } from "../../src/runtime/mic/mic.js";
import type { Logger } from "../../src/util/logger.js";
import { productSession, type AzureSandbox } from "./azure-sandbox.js";

/** MIC's options in tests: quick retries and event coalescing, periodic resyncs out of the way; the rest as given. */
export function testMicOptions(options: Partial<MicOptions> & Pick<MicOptions, "leaderElection">): MicOptions {
  return {
    forceNamespaced: false,
    immutableClientIds: [],
    updateUserMsiMaxRetry: 2,
    updateUserMsiRetryIntervalMs: 50,
    armRetryBudgetMs: 20_000,
    syncRetryDurationMs: 3_600_000,
    identityAssignmentReconcileIntervalMs: 3_600_000,
    coalesceMs: 20,
    ...options,
  };
}

/** MIC in this process, as the sandbox's Owner principal on the fixture's cluster (the caller stops it). */
export function startTestMic(sb: AzureSandbox, kc: KubeConfig, logger: Logger, options: Partial<MicOptions> & Pick<MicOptions, "leaderElection">): Promise<Mic> {
  return startMic({ kube: new KubeSession(kc, "default"), azure: productSession(sb), logger, options: testMicOptions(options) });
}
