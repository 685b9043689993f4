/**
 * After a runtime component has stopped on SIGTERM, the process should end: a request to an API server that no
 * longer answers (a partition) keeps its socket, and with it the event loop, alive. This ends the process a moment
 * later if anything still holds it; the timer itself holds nothing (unref), so a clean stop exits at once.
 */
export function endProcessSoon(afterMs = 1000): void {
  setTimeout(() => process.exit(process.exitCode ?? 0), afterMs).unref();
}
