/** Medians and percentiles over repeated runs: the machines are small and noisy, so no figure is a single run. */
export function median(values: number[]): number {
  return percentile(values, 50);
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export interface Figure {
  name: string;
  unit: string;
  value: number;
  runs: number;
  /** The named baseline measured side by side (its median). */
  baseline?: { name: string; value: number };
  /**
   * For runs paired with their baseline's (interleaved): the median of the per-pair ratios, which a burst of load on
   * one side of a pair moves only for that pair. Without it the ratio is value / baseline.
   */
  pairedRatio?: number;
}

/** A figure of runs paired index by index with their baseline's: the medians of both, and the median of the pairs' ratios. */
export function pairedFigure(name: string, unit: string, subject: number[], baseline: { name: string; values: number[] }): Figure {
  if (subject.length !== baseline.values.length) throw new Error(`${name}: ${subject.length} runs against ${baseline.values.length} of the baseline are not pairs`);
  return {
    name,
    unit,
    value: median(subject),
    runs: subject.length,
    baseline: { name: baseline.name, value: median(baseline.values) },
    pairedRatio: median(subject.map((v, i) => v / baseline.values[i])),
  };
}

export function printTable(figures: Figure[]): void {
  const fmt = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2)) : "n/a");
  const rows = figures.map((f) => [
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    String(f.runs),
    f.baseline ? `${fmt(f.baseline.value)} ${f.unit} (${f.baseline.name})` : "",
    f.pairedRatio !== undefined ? `${fmt(f.pairedRatio)}x (pairs)` : f.baseline ? `${fmt(f.value / f.baseline.value)}x` : "",
  ]);
  const header = ["figure", "median", "runs", "baseline", "ratio"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(line(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  rows.forEach((r) => console.log(line(r)));
  if (figures.some((f) => f.pairedRatio !== undefined)) {
    console.log("ratio (pairs): the median of the per-pair ratios, each run beside the baseline run next to it; other ratios: median / baseline median.");
  }
}

export async function timeRuns(runs: number, body: () => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await body();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return samples;
}

/**
 * A quantile from a Prometheus histogram's cumulative buckets, as PromQL's histogram_quantile computes it
 * (linear within the bucket the rank falls in).
 */
export function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (!total) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lower;
      return lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}
