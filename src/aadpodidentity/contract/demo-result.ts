/**
 * What the demo workload (`podid runtime demo`) found in one round, as one line of its log: `podid demo` judges its
 * pods by these lines, never by the English around them.
 */
export interface DemoResult {
  /** Which identity path the round used. */
  path: "managed identity" | "workload identity";
  /** A token was had. */
  token: boolean;
  /** The client id the token was issued to (its appid claim), when there was one. */
  clientId?: string;
  /** When no token was had: the status the token endpoint answered (NMI refuses with 403 or 404), if it answered. */
  endpointStatus?: number;
  /** The ARM listing with the token went through. */
  arm: boolean;
  vmCount?: number;
  scaleSetCount?: number;
}

const PREFIX = "podid-demo-result ";

export const demoResultLine = (result: DemoResult): string => PREFIX + JSON.stringify(result);

/** Every result line in a log, oldest first (a line may carry a timestamp before it). */
export function demoResults(log: string): DemoResult[] {
  const out: DemoResult[] = [];
  for (const line of log.split("\n")) {
    const at = line.indexOf(PREFIX);
    if (at < 0) continue;
    try {
      out.push(JSON.parse(line.slice(at + PREFIX.length)) as DemoResult);
    } catch {
      // a line cut short (the log's tail): not a result
    }
  }
  return out;
}
