import { isDeepStrictEqual } from "node:util";
import { CronError, knownTimeZone, parseCronSchedule } from "../cron.js";
import type { FieldError } from "../errors.js";
import type { KindSpec } from "../registry/resources.js";
import { isPlainObject, type KubeObject } from "../types.js";
import { dns1123Subdomain } from "../validation.js";
import { child, decodingPodSpecAt, defaultPodSpec, podSpecErrors, podSpecRules } from "./pod-spec.js";
import { selectorErrors } from "./workloads.js";

/**
 * batch/v1 (pkg/registry/batch): Jobs, whose selector the API server generates from the Job's uid (unless
 * manualSelector), and CronJobs, whose schedule must parse; both defaulted as kube-apiserver defaults them.
 */

type Obj = Record<string, unknown>;

/** The labels the API server puts on a Job's selector and pod template (batch.kubernetes.io/...). */
export const JOB_UID_LABEL = "batch.kubernetes.io/controller-uid";
export const JOB_NAME_LABEL = "batch.kubernetes.io/job-name";
const LEGACY_JOB_UID_LABEL = "controller-uid";
const LEGACY_JOB_NAME_LABEL = "job-name";

function defaultJobSpec(spec: Obj): void {
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= "NonIndexed";
  spec.suspend ??= false;
  if (spec.podFailurePolicy === undefined) spec.podReplacementPolicy ??= "TerminatingOrFailed";
  // A template without a restartPolicy gets the pod default, Always, which a Job's validation then refuses.
  defaultPodSpec(child(child(spec, "template"), "spec"));
}

/** generateSelector: the Job's uid selects its pods, whose template carries it (with the Job's name). */
function generateSelector(job: KubeObject, spec: Obj): void {
  if (spec.manualSelector === true) return;
  const uid = job.metadata.uid ?? "";
  const name = job.metadata.name ?? "";
  spec.selector = { matchLabels: { [JOB_UID_LABEL]: uid } };
  const meta = child(child(spec, "template"), "metadata");
  meta.labels = { ...(isPlainObject(meta.labels) ? meta.labels : {}), [LEGACY_JOB_UID_LABEL]: uid, [JOB_UID_LABEL]: uid, [JOB_NAME_LABEL]: name, [LEGACY_JOB_NAME_LABEL]: name };
}

function nonNegative(spec: Obj, field: string, path: string): FieldError[] {
  const v = spec[field];
  return typeof v === "number" && v < 0 ? [{ type: "FieldValueInvalid", field: `${path}.${field}`, value: v, detail: "must be greater than or equal to 0" }] : [];
}

/** ValidateJobSpec: counts not negative, pods that end (restartPolicy OnFailure or Never), the pod template. */
function jobSpecErrors(spec: Obj, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of ["parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"]) errs.push(...nonNegative(spec, f, path));
  if (spec.manualSelector === true) errs.push(...selectorErrors(spec, `${path}.template`));
  const template = isPlainObject(spec.template) ? spec.template : {};
  const podSpec = isPlainObject(template.spec) ? template.spec : undefined;
  const restart = podSpec?.restartPolicy;
  if (restart !== "OnFailure" && restart !== "Never") {
    errs.push({ type: "FieldValueNotSupported", field: `${path}.template.spec.restartPolicy`, value: restart ?? "", detail: 'supported values: "OnFailure", "Never"' });
  }
  errs.push(...podSpecErrors(podSpec, `${path}.template.spec`));
  return errs;
}

function specOf(o: KubeObject): Obj {
  return isPlainObject(o.spec) ? o.spec : {};
}

/**
 * ValidateJobSpecUpdate: the selector and the pod template are immutable. Since 1.27 (JobMutableNodeSchedulingDirectives)
 * a Job that is suspended and never started may still change its template's labels, annotations, node selector,
 * tolerations and scheduling gates, so a queue controller can place it before it starts.
 */
function jobSpecUpdateErrors(job: KubeObject, old: KubeObject): FieldError[] {
  const spec = specOf(job);
  const before = specOf(old);
  const errs: FieldError[] = [];
  if (!isDeepStrictEqual(spec.selector, before.selector)) errs.push({ type: "FieldValueInvalid", field: "spec.selector", value: spec.selector, detail: "field is immutable" });
  const started = isPlainObject(old.status) && old.status.startTime !== undefined && old.status.startTime !== null;
  const mutable = before.suspend === true && !started;
  const comparable = (template: unknown): Obj => {
    const t = structuredClone(isPlainObject(template) ? template : {});
    if (!mutable) return t;
    const meta = child(t, "metadata");
    const podSpec = child(t, "spec");
    for (const k of ["labels", "annotations"]) delete meta[k];
    for (const k of ["nodeSelector", "tolerations", "schedulingGates"]) delete podSpec[k];
    return t;
  };
  if (!isDeepStrictEqual(comparable(spec.template), comparable(before.template))) errs.push({ type: "FieldValueInvalid", field: "spec.template", value: spec.template, detail: "field is immutable" });
  return errs;
}

export const jobs: KindSpec = {
  group: "batch",
  version: "v1",
  kind: "Job",
  plural: "jobs",
  namespaced: true,
  categories: ["all"],
  status: true,
  generation: true,
  listRules: { ...podSpecRules("spec.template.spec"), "status.conditions": { type: "map", keys: ["type"] } },
  strategy: {
    validateName: dns1123Subdomain,
    selectableFields: ["status.successful"],
    decode: decodingPodSpecAt(["spec", "template", "spec"]),
    prepareForCreate(o) {
      const spec = child(o, "spec");
      defaultJobSpec(spec);
      generateSelector(o, spec);
    },
    validate: (o) => jobSpecErrors(specOf(o), "spec"),
    validateUpdate: jobSpecUpdateErrors,
  },
};

/** validateScheduleFormat and validateTimeZone, with the parser's own messages. */
function scheduleErrors(spec: Obj): FieldError[] {
  const schedule = typeof spec.schedule === "string" ? spec.schedule : "";
  if (!schedule) return [{ type: "FieldValueRequired", field: "spec.schedule", detail: "" }];
  const errs: FieldError[] = [];
  const timeZone = spec.timeZone;
  if (typeof timeZone === "string") {
    if (!timeZone) errs.push({ type: "FieldValueInvalid", field: "spec.timeZone", value: timeZone, detail: "timeZone must be nil or non-empty string" });
    else if (timeZone.toLowerCase() === "local") errs.push({ type: "FieldValueInvalid", field: "spec.timeZone", value: timeZone, detail: "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones" });
    else if (!knownTimeZone(timeZone)) errs.push({ type: "FieldValueInvalid", field: "spec.timeZone", value: timeZone, detail: `unknown time zone ${timeZone}` });
  }
  try {
    parseCronSchedule(schedule);
  } catch (err) {
    if (!(err instanceof CronError)) throw err;
    errs.push({ type: "FieldValueInvalid", field: "spec.schedule", value: schedule, detail: err.message });
  }
  if (schedule.includes("TZ")) errs.push({ type: "FieldValueInvalid", field: "spec.schedule", value: schedule, detail: "cannot use TZ or CRON_TZ in schedule, use timeZone field instead" });
  return errs;
}

function jobTemplateSpec(spec: Obj): Obj {
  return child(child(spec, "jobTemplate"), "spec");
}

export const cronJobs: KindSpec = {
  group: "batch",
  version: "v1",
  kind: "CronJob",
  plural: "cronjobs",
  namespaced: true,
  shortNames: ["cj"],
  categories: ["all"],
  status: true,
  generation: true,
  listRules: podSpecRules("spec.jobTemplate.spec.template.spec"),
  strategy: {
    validateName: dns1123Subdomain,
    selectableFields: [],
    decode: decodingPodSpecAt(["spec", "jobTemplate", "spec", "template", "spec"]),
    prepareForCreate(o) {
      const spec = child(o, "spec");
      spec.concurrencyPolicy ??= "Allow";
      spec.suspend ??= false;
      spec.successfulJobsHistoryLimit ??= 3;
      spec.failedJobsHistoryLimit ??= 1;
      defaultJobSpec(jobTemplateSpec(spec));
    },
    validate(o) {
      const spec = specOf(o);
      const concurrency = spec.concurrencyPolicy;
      const errs = scheduleErrors(spec);
      if (concurrency !== "Allow" && concurrency !== "Forbid" && concurrency !== "Replace") {
        errs.push({ type: "FieldValueNotSupported", field: "spec.concurrencyPolicy", value: concurrency ?? "", detail: 'supported values: "Allow", "Forbid", "Replace"' });
      }
      for (const f of ["startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"]) errs.push(...nonNegative(spec, f, "spec"));
      const template = isPlainObject(spec.jobTemplate) && isPlainObject(spec.jobTemplate.spec) ? spec.jobTemplate.spec : {};
      errs.push(...jobSpecErrors(template, "spec.jobTemplate.spec"));
      return errs;
    },
  },
};
