import { CLOUD_PROVIDER_ERRORS_METRIC } from "../../aadpodidentity/contract/mic-reports.js";
import { Counter, Gauge, loadSummary, metricTotal, Registry } from "../../util/prometheus.js";

/** MIC's Prometheus metrics: upstream's names with the `aadpodidentity_` prefix. */
export class MicMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];

  readonly additions = new Counter({ name: "aadpodidentity_assigned_identity_addition_count", help: "AzureAssignedIdentities created", registers: this.registers });
  readonly deletions = new Counter({ name: "aadpodidentity_assigned_identity_deletion_count", help: "AzureAssignedIdentities deleted", registers: this.registers });
  readonly updates = new Counter({ name: "aadpodidentity_assigned_identity_update_count", help: "AzureAssignedIdentities updated (identity, binding or node changed)", registers: this.registers });
  readonly cloudWrites = new Counter({ name: "aadpodidentity_cloud_provider_write_count", help: "ARM identity PATCH requests, by target kind and result", labelNames: ["kind", "result"] as const, registers: this.registers });
  readonly cloudReads = new Counter({ name: "aadpodidentity_cloud_provider_read_count", help: "ARM reads of scale sets and VMs, by result", labelNames: ["result"] as const, registers: this.registers });
  readonly cloudErrors = new Counter({
    name: CLOUD_PROVIDER_ERRORS_METRIC,
    help: "ARM refusals and throttling of scale-set and VM reads and writes, by operation and reason (a throttled call counts once per retry)",
    labelNames: ["operation_type", "reason"] as const,
    registers: this.registers,
  });
  readonly cycles = new Counter({ name: "aadpodidentity_mic_cycle_count", help: "MIC sync cycles run", registers: this.registers });
  readonly cycleDuration = new (loadSummary())({ name: "aadpodidentity_mic_cycle_duration_seconds", help: "Duration of MIC sync cycles", percentiles: [], registers: this.registers });
  readonly leader = new Gauge({ name: "aadpodidentity_mic_leader", help: "1 when this MIC instance holds the leader lease", registers: this.registers });

  /** The sum of a metric's series matching `labels` (0 when never touched). */
  total(name: string, labels: Record<string, string> = {}): Promise<number> {
    return metricTotal(this.registry, name, labels);
  }
}
