/** podid's process exit codes, as the Azure CLI uses them (reference/cli-conventions.md). */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  /** `podid doctor`: some check warns, none fails. */
  doctorWarnings: 4,
  /** `podid doctor`: at least one check fails. */
  doctorFailures: 5,
  /** Interrupted (Ctrl-C): 128 + SIGINT, as shells report a command a signal ended. */
  interrupted: 130,
  /** Terminated (SIGTERM, e.g. a CI job's timeout or `kill`): 128 + SIGTERM. */
  terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
