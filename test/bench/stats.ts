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
  /** The named baseline measured side by side, and value / baseline. */
  baseline?: { name: string; value: number };
}

export function printTable(figures: Figure[]): void {
  const fmt = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2)) : "n/a");
  const rows = figures.map((f) => [
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    String(f.runs),
    f.baseline ? `${fmt(f.baseline.value)} ${f.unit} (${f.baseline.name})` : "",
    f.baseline ? `${fmt(f.value / f.baseline.value)}x` : "",
  ]);
  const header = ["figure", "median", "runs", "baseline", "ratio"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(line(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  rows.forEach((r) => console.log(line(r)));
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
