import { BINDING_LABEL } from "../../../aadpodidentity/types.js";
import { USE_LABEL } from "../../../kube/workload-identity.js";
import { podTemplateOf, templateServiceAccount, workloadRef } from "../../../kube/workloads.js";
import { serviceAccountRecordOf, workloadRecordOf } from "../../migrate/records.js";
import { leftMidApply } from "../../migrate/workload-changes.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { scopeWorkloads, serviceAccounts } from "./workload-identity.js";

/**
 * 26. The workloads `podid migrate` moved are where its record says: one finished carries aadpodidbinding again
 * (both paths after finish: a manifest applied again put it back), one on workload identity lost its label or
 * ServiceAccount out of band, one the last apply left on pod identity, one an interrupted apply moved without
 * verifying it (perhaps mid-rollout), and one that lost podid's record itself (replaced by a manifest without it),
 * which the ServiceAccount podid made or annotated for it still names.
 */
export const wiMigrationCheck: Check = {
  id: "wi-migration",
  number: 26,
  title: "workload identity: workloads podid migrated are where its record says (none on both paths after finish)",
  async run(ctx) {
    const findings: Finding[] = [];
    const observed: Record<string, string> = {};
    const workloads = await scopeWorkloads(ctx);
    for (const w of workloads) {
      const record = workloadRecordOf(w);
      if (!record) continue;
      const ref = workloadRef({ kind: w.kind, name: w.metadata.name });
      const ns = w.metadata.namespace;
      const template = podTemplateOf(w);
      const labels = template?.metadata?.labels ?? {};
      const wi = labels[USE_LABEL] === "true" && templateServiceAccount(template) === record.serviceAccount.after;
      const objects = [`${ref} in ${ns}`];
      observed[`${ns}/${ref}`] = record.finished ? "finished" : record.verified ? "verified" : record.failed ? "failed" : "both";
      const midApply = leftMidApply(w);
      if (record.finished && labels[BINDING_LABEL]) {
        findings.push(
          finding("warn", `${ref} in ${ns} carries ${BINDING_LABEL}=${labels[BINDING_LABEL]} again although podid migrate finish took it off at ${record.finished.at}: its pods are on both paths (a manifest or GitOps sync put the label back?)`, {
            errors: [BINDING_LABEL],
            fix: `podid migrate finish --namespace ${ns} --workload ${ref} --yes   # and take ${BINDING_LABEL} out of its manifest`,
            objects,
          }),
        );
      } else if (midApply) {
        findings.push(
          finding("warn", `${ref} in ${ns} was ${midApply}`, {
            fix: `podid migrate apply --namespace ${ns} --workload ${ref}   # verifies it; or put it back on pod identity: podid migrate rollback --namespace ${ns} --workload ${ref} --yes`,
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
          finding("warn", `${ref} in ${ns} is on pod identity: podid migrate apply could not move it to workload identity at ${record.failed.at}: ${record.failed.reason}`, {
            fix: `podid migrate apply --namespace ${ns} --workload ${ref}   # once the cause is fixed; podid migrate status shows where each workload stands`,
            objects,
          }),
        );
      }
    }
    // A workload that lost podid's record (kubectl replace, a sync of a manifest without it): its ServiceAccount's names it.
    for (const s of await serviceAccounts(ctx)) {
      const record = serviceAccountRecordOf(s);
      const ns = s.metadata?.namespace ?? "default";
      for (const ref of record?.workloads ?? []) {
        const w = workloads.find((x) => x.metadata.namespace === ns && workloadRef({ kind: x.kind, name: x.metadata.name }) === ref);
        if (!w || workloadRecordOf(w)) continue;
        const template = podTemplateOf(w);
        const now = template?.metadata?.labels?.[USE_LABEL] === "true" ? `it runs as ServiceAccount ${templateServiceAccount(template)} with ${USE_LABEL}=true` : template?.metadata?.labels?.[BINDING_LABEL] ? `its pod template is back on pod identity (${BINDING_LABEL}=${template.metadata.labels[BINDING_LABEL]}): if finish removed that binding, its new pods have no identity at all` : `its pod template has neither ${USE_LABEL} nor ${BINDING_LABEL}`;
        observed[`${ns}/${ref}`] = "record lost";
        findings.push(
          finding("warn", `${ref} in ${ns} no longer carries podid's migration record, although ServiceAccount ${ns}/${s.metadata?.name} was ${record!.created ? "made" : "annotated"} for it by podid migrate (replaced by a manifest without the record: kubectl replace, a GitOps sync?): ${now}`, {
            errors: ["podid.io/workload-identity-migration"],
            fix: `podid migrate apply --namespace ${ns} --workload ${ref}   # moves it again (then update its manifest); or remove what podid added: podid migrate rollback --namespace ${ns} --workload ${ref} --yes`,
            objects: [`${ref} in ${ns}`, `ServiceAccount ${ns}/${s.metadata?.name}`],
          }),
        );
      }
    }
    return { observed, findings };
  },
};
