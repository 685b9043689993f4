import type { KubernetesObject, V1Pod, V1PodSpec } from "@kubernetes/client-node";
import { BINDING_LABEL } from "../../aadpodidentity/types.js";
import { USE_LABEL } from "../../kube/workload-identity.js";
import { atTemplate, podTemplateOf, rolloutState, templateServiceAccount, WORKLOAD_KINDS, type Workload } from "../../kube/workloads.js";
import type { IdentityPlan, WorkloadPlan } from "./model.js";
import { newWorkloadRecord, RECORD_ANNOTATION, recordText, workloadRecordOf, type WorkloadRecord } from "./records.js";

/**
 * What podid changes on a workload, and how it undoes it: the pod template's workload identity label (the
 * aadpodidbinding label kept), its ServiceAccount and the proxy annotation, with podid's record beside them.
 */

/**
 * The pod template's ServiceAccount as a merge patch writes it (null: none). Both fields: `serviceAccount` is the
 * deprecated alias the API server keeps equal to `serviceAccountName`, and a patch that drops only the name gets it
 * back from the alias.
 */
function serviceAccountFields(name: string | null): { serviceAccountName: string | null; serviceAccount: string | null } {
  return { serviceAccountName: name, serviceAccount: name };
}

/** Whether the template already has everything the plan wants (labels, ServiceAccount, proxy annotation). */
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
    ...(existing?.finished ? { finished: existing.finished } : {}),
  });
}

/** Only podid's record on the workload (nothing of its pods changes: no rollout). */
export function recordPatch(record: WorkloadRecord | null): Record<string, unknown> {
  return { metadata: { annotations: { [RECORD_ANNOTATION]: record ? recordText(record) : null } } };
}

/**
 * The merge patch podid writes (as field manager podid, on the version it read): the pod template's workload
 * identity label, ServiceAccount and proxy annotation, and the record. A merge patch rather than server-side apply:
 * an apply as podid would drop whatever else podid applied to the workload (the aadpodidbinding label `podid bind`
 * set, a whole Deployment the demo applied), and a later `podid bind --label` would drop these.
 */
export function migratePatch(w: Workload, p: WorkloadPlan, record: WorkloadRecord): Record<string, unknown> {
  return {
    ...recordPatch(record),
    ...atTemplate(w.kind, {
      metadata: { labels: { ...p.podTemplateLabels }, ...(Object.keys(p.podTemplateAnnotations).length ? { annotations: { ...p.podTemplateAnnotations } } : {}) },
      spec: serviceAccountFields(p.serviceAccount!.target),
    }),
  };
}

/**
 * A pod as the workload's controller would make it from the template the plan gives it: what the API server is
 * asked to admit (dry run) before the workload is touched.
 */
export function plannedPod(w: Workload, p: WorkloadPlan): V1Pod & { metadata: { namespace: string } } {
  const t = podTemplateOf(w);
  return {
    metadata: {
      generateName: `${w.metadata.name}-`,
      namespace: w.metadata.namespace,
      labels: { ...t?.metadata?.labels, ...p.podTemplateLabels },
      annotations: { ...t?.metadata?.annotations, ...p.podTemplateAnnotations },
    },
    spec: { ...(t?.spec as V1PodSpec), serviceAccountName: p.serviceAccount!.target, serviceAccount: p.serviceAccount!.target },
  };
}

/** The patch as a manifest (for --dry-run -o yaml): what it sets, on which object. */
export function asManifest(w: Workload, patch: Record<string, unknown>): KubernetesObject {
  const { metadata, ...rest } = patch as { metadata: Record<string, unknown> };
  return { apiVersion: WORKLOAD_KINDS[w.kind].apiVersion, kind: w.kind, metadata: { name: w.metadata.name, namespace: w.metadata.namespace, ...metadata }, ...rest } as KubernetesObject;
}

/** Whether the workload already is as the patch makes it (template as planned, the same record). */
export function migrated(w: Workload, p: WorkloadPlan, record: WorkloadRecord): boolean {
  return templateAsPlanned(w, p) && w.metadata.annotations?.[RECORD_ANNOTATION] === recordText(record);
}

/**
 * The first half of putting a workload back: its aadpodidbinding label (finish took it off), everything of workload
 * identity kept, and the record saying so (the wait for MIC that follows is owed until the template is restored).
 * Its new pods have both paths while MIC attaches the identities; undefined when the label is there.
 */
export function bindingBackPatch(w: Workload, record: WorkloadRecord, at: Date): Record<string, unknown> | undefined {
  if (!record.selector || podTemplateOf(w)?.metadata?.labels?.[BINDING_LABEL]) return undefined;
  return { ...recordPatch({ ...record, relabelled: { at: at.toISOString() } }), ...atTemplate(w.kind, { metadata: { labels: { [BINDING_LABEL]: record.selector } } }) };
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
    ...recordPatch(keep),
    ...atTemplate(w.kind, {
      metadata: { labels, ...(emptied ? { annotations: null } : Object.keys(annotations).length ? { annotations } : {}) },
      spec: serviceAccountFields(record.serviceAccount.before),
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

/**
 * A workload an apply moved but neither verified nor put back: the apply was interrupted (or runs still). What its
 * rollout shows, to name it in status, rollback and doctor; undefined for any other workload.
 */
export function leftMidApply(w: Workload | undefined): string | undefined {
  const record = workloadRecordOf(w);
  if (!w || !record || record.verified || record.finished) return undefined;
  const t = podTemplateOf(w);
  if (t?.metadata?.labels?.[USE_LABEL] !== "true" || templateServiceAccount(t) !== record.serviceAccount.after) return undefined;
  const rollout = rolloutState(w);
  return `moved by an apply that did not verify it (interrupted?): ${rollout.complete ? "its rollout is complete" : `its rollout is not complete (${rollout.summary}), so it may have fewer ready pods than it should`}`;
}
