import { createRequire } from "node:module";
import type * as Prom from "prom-client";

/**
 * prom-client's registry and metric classes, loaded from their own modules rather than the package's index: the
 * index also loads @opentelemetry/api (exemplars), the cluster aggregator, the push gateway and the default process
 * metrics, ~11 MiB that NMI (a DaemonSet on every node) would carry for nothing. Typed by the package's own types;
 * the version is pinned (package.json) because these paths are not its public entry point.
 */
const load = createRequire(import.meta.url);

export const Registry = load("prom-client/lib/registry") as typeof Prom.Registry;
export const Counter = load("prom-client/lib/counter") as typeof Prom.Counter;
export const Gauge = load("prom-client/lib/gauge") as typeof Prom.Gauge;
export const Histogram = load("prom-client/lib/histogram") as typeof Prom.Histogram;
/** Loaded on first use (it brings a quantile estimator NMI does not need). */
export const loadSummary = (): typeof Prom.Summary => load("prom-client/lib/summary") as typeof Prom.Summary;

export type Registry = Prom.Registry;
export type Counter<T extends string> = Prom.Counter<T>;
export type Gauge<T extends string> = Prom.Gauge<T>;
export type Histogram<T extends string> = Prom.Histogram<T>;
export type Summary<T extends string> = Prom.Summary<T>;

/** The sum of a metric's values over all its label sets (0 when it has none), e.g. for tests and logs. */
export async function metricTotal(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => !("metricName" in v && v.metricName !== undefined && v.metricName !== name))
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
