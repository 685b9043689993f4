/** The few Prometheus series NMI exports, upstream's names (prefix aadpodidentity_), in the text format. */
/** From 0.5 ms (a cached token is answered in well under a millisecond) to 10 s (waiting for MIC). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(",");

/** Distinct values a caller-chosen label may take before the rest count as "other". */
const MAX_LABEL_VALUES = 64;

export class NmiMetrics {
  private readonly histograms = new Map<string, Map<string, Histogram>>();
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly seenValues = new Map<string, Set<string>>();

  /** The value for a label a caller chooses (a resource), or "other" once MAX_LABEL_VALUES distinct ones were seen. */
  boundedValue(label: string, value: string): string {
    const seen = this.seenValues.get(label) ?? new Set<string>();
    this.seenValues.set(label, seen);
    if (seen.has(value)) return value;
    if (seen.size >= MAX_LABEL_VALUES) return "other";
    seen.add(value);
    return value;
  }

  observe(name: string, labels: Record<string, string>, seconds: number): void {
    const series = this.histograms.get(name) ?? new Map<string, Histogram>();
    this.histograms.set(name, series);
    const key = labelText(labels);
    const h = series.get(key) ?? { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    series.set(key, h);
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.buckets[i]++;
    });
    h.sum += seconds;
    h.count++;
  }

  increment(name: string, labels: Record<string, string>): void {
    const series = this.counters.get(name) ?? new Map<string, number>();
    this.counters.set(name, series);
    const key = labelText(labels);
    series.set(key, (series.get(key) ?? 0) + 1);
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, series] of this.histograms) {
      const full = `aadpodidentity_${name}`;
      lines.push(`# TYPE ${full} histogram`);
      for (const [labels, h] of series) {
        const sep = labels ? "," : "";
        BUCKETS.forEach((b, i) => lines.push(`${full}_bucket{${labels}${sep}le="${b}"} ${h.buckets[i]}`));
        lines.push(`${full}_bucket{${labels}${sep}le="+Inf"} ${h.count}`, `${full}_sum{${labels}} ${h.sum}`, `${full}_count{${labels}} ${h.count}`);
      }
    }
    for (const [name, series] of this.counters) {
      const full = `aadpodidentity_${name}`;
      lines.push(`# TYPE ${full} counter`);
      for (const [labels, v] of series) lines.push(`${full}{${labels}} ${v}`);
    }
    return lines.join("\n") + "\n";
  }
}
