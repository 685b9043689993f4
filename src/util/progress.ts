/**
 * Where long-running work says how it is getting on. Called with a state (`mic 0/2 ready`, `waiting for Entra ID
 * to replicate principal ...`): what the work waits for now, said again whenever it is checked; whoever shows it
 * shows it live, and prints it only when it changes. Work made of named steps also says when each begins (with
 * how long it may take at most, when that is bounded) and how it ended.
 *
 * A plain `(state) => void` is a Progress too: it gets the states and not the steps.
 */
export interface Progress {
  (state: string): void;
  begin?(step: string, limitMs?: number): void;
  end?(outcome: string): void;
}

/** Progress that goes nowhere. */
export const NO_PROGRESS: Progress = () => undefined;
