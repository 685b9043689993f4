/**
 * The record of identities that were on a scale set (or VM) before MIC first saw it, which MIC never detaches. It
 * is kept as an annotation on MIC's leader Lease, so that every later leader inherits it: a JSON object from the
 * lower-cased ARM id of each target to the lower-cased ids of its pre-existing identities.
 */
export const PREEXISTING_ANNOTATION = "podid.io/preexisting-identities";

export type PreexistingRecord = Record<string, string[]>;

/** The well-formed entries of a stored record (anything else in it is ignored). */
export function preexistingEntries(stored: Record<string, unknown>): PreexistingRecord {
  return Object.fromEntries(Object.entries(stored).filter((e): e is [string, string[]] => Array.isArray(e[1]) && e[1].every((v) => typeof v === "string")));
}
