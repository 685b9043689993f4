import { Counter, Histogram, Registry } from "../../util/prometheus.js";

/** From 0.5 ms (a cached token is answered in well under a millisecond) to 10 s (waiting for MIC). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Distinct values a caller-chosen label may take before the rest count as "other". */
const MAX_LABEL_VALUES = 64;

/** The Prometheus series NMI exports: upstream's names (prefix aadpodidentity_), and its decisions. */
export class NmiMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];
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

  readonly operations = new Histogram({
    name: "aadpodidentity_nmi_operations_duration_seconds",
    help: "Time NMI took to answer a token request, by path, status, namespace and resource",
    labelNames: ["operation_type", "status_code", "namespace", "resource"] as const,
    buckets: BUCKETS,
    registers: this.registers,
  });
  readonly imds = new Histogram({ name: "aadpodidentity_imds_operations_duration_seconds", help: "Time NMI's token requests to IMDS or Entra ID took", labelNames: ["operation_type"] as const, buckets: BUCKETS, registers: this.registers });
  readonly imdsErrors = new Counter({ name: "aadpodidentity_imds_operations_errors_count", help: "NMI's token requests IMDS or Entra ID refused or did not answer", labelNames: ["operation_type"] as const, registers: this.registers });
  readonly kubeErrors = new Counter({ name: "aadpodidentity_kubernetes_api_operations_errors_count", help: "Callers no pod of this node was found for", labelNames: ["operation_type"] as const, registers: this.registers });
  readonly decisions = new Counter({ name: "aadpodidentity_nmi_decisions_count", help: "NMI's decisions on requests, by outcome and reason", labelNames: ["outcome", "reason"] as const, registers: this.registers });
}
