import type { KubernetesObject } from "@kubernetes/client-node";
import { BINDING_LABEL } from "../../kube/aadpodidentity.js";
import { INJECT_PROXY_ANNOTATION } from "../../kube/workload-identity.js";
import { atTemplate, podTemplateOf, WORKLOAD_KINDS, type Workload } from "../../kube/workloads.js";
import type { IdentityPlan, WorkloadPlan } from "./model.js";
import { newWorkloadRecord, RECORD_ANNOTATION, recordText, workloadRecordOf, type WorkloadRecord } from "./records.js";

/**
 * What podid changes on a workload, and how it undoes it: the pod template's workload identity label (the
 * aadpodidbinding label kept), its serviceAccountName and the proxy annotation, with podid's record beside them.
 */

/** Whether the pod template already has everything the plan wants (labels, ServiceAccount, proxy annotation). */
export function templateAsPlanned(w: Workload, p: WorkloadPlan): boolean {
  const t = podTemplateOf(w);
  const labels = t?.metadata?.labels ?? {};
  const annotations = t?.metadata?.annotations ?? {};
  return (
    Object.entries(p.podTemplateLabels).every(([k, v]) => labels[k] === v) &&
    Object.entries(p.podTemplateAnnotations).every(([k, v]) => annotations[k] === v) &&
    t?.spec?.serviceAccountName === p.serviceAccount?.target
  );
}

/**
 * The record to write with the change: what was there before (kept from an earlier run's record, so a re-run
 * never takes podid's own values for the user's), what podid adds, the identities and bindings to restore. An
 * earlier verification or failure stays only while the template is already as planned.
 */
export function workloadRecordFor(w: Workload, p: WorkloadPlan, identities: IdentityPlan[]): WorkloadRecord {
  const existing = workloadRecordOf(w);
  const t = podTemplateOf(w);
  const labels = t?.metadata?.labels ?? {};
  const annotations = t?.metadata?.annotations ?? {};
  const addedLabels = new Set(existing?.added.labels ?? []);
  for (const k of Object.keys(p.podTemplateLabels)) if (labels[k] === undefined) addedLabels.add(k);
  const addedAnnotations = new Set(existing?.added.annotations ?? []);
  for (const k of Object.keys(p.podTemplateAnnotations)) if (annotations[k] === undefined) addedAnnotations.add(k);
  const mine = identities.filter((i) => p.identities.includes(`${i.namespace}/${i.name}`));
  const asPlanned = templateAsPlanned(w, p);
  return newWorkloadRecord({
    identities: mine.map((i) => ({ namespace: i.namespace, name: i.name, resourceID: i.resourceId, clientID: i.clientId })),
    bindings: existing?.bindings.length
      ? existing.bindings
      : mine.flatMap((i) => i.bindings.filter((b) => b.selector === p.selector).map((b) => ({ namespace: b.namespace, name: b.name, azureIdentity: i.name, selector: b.selector }))),
    selector: p.selector ?? existing?.selector ?? "",
    serviceAccount: existing?.serviceAccount ?? { before: t?.spec?.serviceAccountName ?? null, after: p.serviceAccount!.target },
    added: { labels: [...addedLabels].sort(), annotations: [...addedAnnotations].sort() },
    ...(asPlanned && existing?.verified ? { verified: existing.verified } : {}),
    ...(existing?.failed ? { failed: existing.failed } : {}),
  });
}

/**
 * The configuration podid applies (server-side, as field manager podid): the labels with aadpodidbinding kept,
 * the ServiceAccount, the proxy annotation and the record. Every field podid owns on the workload is in it, so
 * applying it never drops one.
 */
export function migratedConfig(w: Workload, p: WorkloadPlan, record: WorkloadRecord): KubernetesObject {
  const labels = podTemplateOf(w)?.metadata?.labels ?? {};
  const templateAnnotations = { ...Object.fromEntries(record.added.annotations.filter((k) => k === INJECT_PROXY_ANNOTATION).map((k) => [k, "true"])), ...p.podTemplateAnnotations };
  return {
    apiVersion: WORKLOAD_KINDS[w.kind].apiVersion,
    kind: w.kind,
    metadata: { name: w.metadata.name, namespace: w.metadata.namespace, annotations: { [RECORD_ANNOTATION]: recordText(record) } },
    ...atTemplate(w.kind, {
      metadata: {
        labels: { ...(labels[BINDING_LABEL] ? { [BINDING_LABEL]: labels[BINDING_LABEL] } : {}), ...p.podTemplateLabels },
        ...(Object.keys(templateAnnotations).length ? { annotations: templateAnnotations } : {}),
      },
      spec: { serviceAccountName: p.serviceAccount!.target },
    }),
  } as KubernetesObject;
}

/**
 * A merge patch that puts the workload back on pod identity: the aadpodidbinding label (when it is gone), the
 * ServiceAccount it had, and without what podid added. `record` is what to keep as podid's record (null drops it).
 */
export function restorePatch(w: Workload, record: WorkloadRecord, keep: WorkloadRecord | null): Record<string, unknown> {
  const t = podTemplateOf(w);
  const labels: Record<string, string | null> = {};
  for (const k of record.added.labels) if (t?.metadata?.labels?.[k] !== undefined) labels[k] = null;
  if (!t?.metadata?.labels?.[BINDING_LABEL] && record.selector) labels[BINDING_LABEL] = record.selector;
  const annotations: Record<string, null> = {};
  for (const k of record.added.annotations) if (t?.metadata?.annotations?.[k] !== undefined) annotations[k] = null;
  // A map left empty goes, as it was absent before podid (an API server omits empty maps).
  const emptied = Object.keys(annotations).length > 0 && Object.keys(t?.metadata?.annotations ?? {}).every((k) => k in annotations);
  return {
    metadata: { annotations: { [RECORD_ANNOTATION]: keep ? recordText(keep) : null } },
    ...atTemplate(w.kind, {
      metadata: { labels, ...(emptied ? { annotations: null } : Object.keys(annotations).length ? { annotations } : {}) },
      spec: { serviceAccountName: record.serviceAccount.before },
    }),
  };
}

/** Whether the template is back as the record says it was. */
export function restored(w: Workload, record: WorkloadRecord): boolean {
  const t = podTemplateOf(w);
  return (
    record.added.labels.every((k) => t?.metadata?.labels?.[k] === undefined) &&
    record.added.annotations.every((k) => t?.metadata?.annotations?.[k] === undefined) &&
    (!record.selector || t?.metadata?.labels?.[BINDING_LABEL] === record.selector) &&
    (t?.spec?.serviceAccountName ?? null) === record.serviceAccount.before
  );
}
