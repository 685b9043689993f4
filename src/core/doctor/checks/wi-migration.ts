import { BINDING_LABEL } from "../../../aadpodidentity/types.js";
import { USE_LABEL } from "../../../kube/workload-identity.js";
import { podTemplateOf, templateServiceAccount, workloadRef } from "../../../kube/workloads.js";
import { workloadRecordOf } from "../../migrate/records.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { scopeWorkloads } from "./workload-identity.js";

/**
 * 26. The workloads `podid migrate` moved are where its record says: one finished carries aadpodidbinding again
 * (both paths after finish: a manifest applied again put it back), one on workload identity lost its label or
 * ServiceAccount out of band, one the last apply put back on pod identity.
 */
export const wiMigrationCheck: Check = {
  id: "wi-migration",
  number: 26,
  title: "workload identity: workloads podid migrated are where its record says (none on both paths after finish)",
  async run(ctx) {
    const findings: Finding[] = [];
    const observed: Record<string, string> = {};
    for (const w of await scopeWorkloads(ctx)) {
      const record = workloadRecordOf(w);
      if (!record) continue;
      const ref = workloadRef({ kind: w.kind, name: w.metadata.name });
      const ns = w.metadata.namespace;
      const template = podTemplateOf(w);
      const labels = template?.metadata?.labels ?? {};
      const wi = labels[USE_LABEL] === "true" && templateServiceAccount(template) === record.serviceAccount.after;
      const objects = [`${ref} in ${ns}`];
      observed[`${ns}/${ref}`] = record.finished ? "finished" : record.verified ? "verified" : record.failed ? "failed" : "both";
      if (record.finished && labels[BINDING_LABEL]) {
        findings.push(
          finding("warn", `${ref} in ${ns} carries ${BINDING_LABEL}=${labels[BINDING_LABEL]} again although podid migrate finish took it off at ${record.finished.at}: its pods are on both paths (a manifest or GitOps sync put the label back?)`, {
            errors: [BINDING_LABEL],
            fix: `podid migrate finish --namespace ${ns} --workload ${ref} --yes   # and take ${BINDING_LABEL} out of its manifest`,
            objects,
          }),
        );
      } else if (!wi && !record.failed) {
        findings.push(
          finding("warn", `${ref} in ${ns} was moved to workload identity by podid, but its pod template no longer has ${USE_LABEL}=true and ServiceAccount ${record.serviceAccount.after} (changed out of band?)`, {
            errors: [USE_LABEL],
            fix: `podid migrate apply --namespace ${ns} --workload ${ref}   # or put it back on pod identity: podid migrate rollback --namespace ${ns} --workload ${ref} --yes`,
            objects,
          }),
        );
      } else if (record.failed && !wi) {
        findings.push(
          finding("warn", `${ref} in ${ns} is back on pod identity: podid migrate apply could not verify it on workload identity at ${record.failed.at}: ${record.failed.reason}`, {
            fix: `podid migrate apply --namespace ${ns} --workload ${ref}   # once the cause is fixed; podid migrate status shows where each workload stands`,
            objects,
          }),
        );
      }
    }
    return { observed, findings };
  },
};
