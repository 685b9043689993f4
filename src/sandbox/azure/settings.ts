import type { AzureState, SandboxSettings } from "./model.js";

/** Real ARM takes a moment to write a federated identity credential; writes to its identity meanwhile get 409. */
export const DEFAULT_FEDERATED_WRITE_MS = 200;

/** The settings `podid sandbox settings` changes, each a number >= 0, with the defaults of state that lacks them. */
export function settingsOf(state: AzureState): Required<SandboxSettings> {
  const s = state.settings;
  return {
    replicationDelaySeconds: s.replicationDelaySeconds ?? 0,
    federationDelaySeconds: s.federationDelaySeconds ?? 0,
    federatedCredentialWriteMs: s.federatedCredentialWriteMs ?? DEFAULT_FEDERATED_WRITE_MS,
    clockOffsetSeconds: s.clockOffsetSeconds ?? 0,
  };
}

/** What the admin route may change (the clock moves only through its own route). */
export const CHANGEABLE_SETTINGS = ["replicationDelaySeconds", "federationDelaySeconds", "federatedCredentialWriteMs"] as const;

/** The longest a propagation delay may be set to: a day, far beyond Azure's (seconds to minutes). */
export const MAX_DELAY_SECONDS = 86_400;

/** The largest value of each setting. */
export const SETTING_LIMITS: Record<(typeof CHANGEABLE_SETTINGS)[number], number> = {
  replicationDelaySeconds: MAX_DELAY_SECONDS,
  federationDelaySeconds: MAX_DELAY_SECONDS,
  federatedCredentialWriteMs: 60_000,
};
