/**
 * MIC's Prometheus metrics (text exposition format 0.0.4), upstream's names with the `aadpodidentity_` prefix.
 * Counters and gauges keyed by name and a sorted label set; durations as a summary's _sum and _count.
 */

type Labels = Record<string, string>;

const HELP: Record<string, [type: "counter" | "gauge" | "summary", help: string]> = {
  aadpodidentity_assigned_identity_addition_count: ["counter", "AzureAssignedIdentities created"],
  aadpodidentity_assigned_identity_deletion_count: ["counter", "AzureAssignedIdentities deleted"],
  aadpodidentity_assigned_identity_update_count: ["counter", "AzureAssignedIdentities updated (identity, binding or node changed)"],
  aadpodidentity_cloud_provider_write_count: ["counter", "ARM identity PATCH requests, by target kind and result"],
  aadpodidentity_cloud_provider_read_count: ["counter", "ARM reads of scale sets and VMs, by result"],
  aadpodidentity_mic_cycle_count: ["counter", "MIC sync cycles run"],
  aadpodidentity_mic_cycle_duration_seconds: ["summary", "Duration of MIC sync cycles"],
  aadpodidentity_mic_leader: ["gauge", "1 when this MIC instance holds the leader lease"],
};

function key(name: string, labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k].replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `${name}{${parts.join(",")}}` : name;
}

export class MicMetrics {
  private readonly values = new Map<string, { name: string; value: number }>();

  inc(name: string, labels: Labels = {}, by = 1): void {
    const k = key(name, labels);
    const entry = this.values.get(k) ?? { name, value: 0 };
    entry.value += by;
    this.values.set(k, entry);
  }

  set(name: string, value: number, labels: Labels = {}): void {
    this.values.set(key(name, labels), { name, value });
  }

  observe(name: string, seconds: number): void {
    this.inc(`${name}_sum`, {}, seconds);
    this.inc(`${name}_count`);
  }

  /** The value of one series (0 when never touched), for tests and logs. */
  get(name: string, labels: Labels = {}): number {
    return this.values.get(key(name, labels))?.value ?? 0;
  }

  /** The sum over all label sets of one metric. */
  total(name: string): number {
    let sum = 0;
    for (const { name: n, value } of this.values.values()) if (n === name) sum += value;
    return sum;
  }

  render(): string {
    const lines: string[] = [];
    const described = new Set<string>();
    for (const [series, { name, value }] of [...this.values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const base = name.replace(/_(sum|count)$/, "");
      const meta = HELP[name] ?? HELP[base];
      const family = HELP[name] ? name : base;
      if (meta && !described.has(family)) {
        described.add(family);
        lines.push(`# HELP ${family} ${meta[1]}`, `# TYPE ${family} ${meta[0]}`);
      }
      lines.push(`${series} ${value}`);
    }
    return lines.join("\n") + "\n";
  }
}
