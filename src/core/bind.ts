import { IdentityCode, NotFoundError, UsageCode, UsageError } from "../errors/index.js";
import { WORKLOADS, type WorkloadRef } from "./workload-kinds.js";
import type { V1Pod } from "@kubernetes/client-node";
import { MANAGED_BY_LABEL, MANAGED_BY_PODID } from "../aadpodidentity/contract/names.js";
import { isNamespacedIdentity } from "../aadpodidentity/matching.js";
import { bindingSpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, BEHAVIOR_ANNOTATION, BEHAVIOR_NAMESPACED, BINDING_LABEL, type AzureIdentity, type AzureIdentityBinding } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { invalidFields } from "../kube/errors.js";
import { bindingNameFor, renderAzureIdentityBinding } from "../render/identity.js";
import { applyObjectStep } from "./apply-step.js";
import { aadPodIdentityServed, listAadPodIdentity, notInstalled } from "./preflight.js";
import { bindingsAnnotation, readIdentityRecord, RECORD_ANNOTATIONS, withBinding, type RecordedBinding } from "./record.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

const bindingHeader = (name: string, namespace: string) => ({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentityBinding", metadata: { name, namespace } });
export const readBinding = (kube: KubeSession, name: string, namespace: string) => kube.read<AzureIdentityBinding>(bindingHeader(name, namespace));

/**
 * The pods that hold `binding`'s identity through it today and would lose it if it changed: labelled with its
 * selector, where its identity reaches them (every namespace, as MIC matches by default, unless the identity is
 * namespaced). Undefined when another binding gives the same selector the same identity: nobody loses it.
 */
async function podsHolding(kube: KubeSession, binding: AzureIdentityBinding): Promise<string[] | undefined> {
  const namespace = binding.metadata.namespace ?? "default";
  const { azureIdentity, selector } = bindingSpec(binding);
  const siblings = (await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", namespace)).filter(
    (b) => b.metadata.name !== binding.metadata.name && bindingSpec(b).selector === selector && bindingSpec(b).azureIdentity === azureIdentity,
  );
  if (siblings.length) return undefined;
  const identity = await kube.read<AzureIdentity>({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name: azureIdentity, namespace } });
  const onlyHere = identity ? isNamespacedIdentity(identity) : false;
  const label = `${BINDING_LABEL}=${selector}`;
  const pods = onlyHere ? await kube.list<V1Pod>("v1", "Pod", namespace, label) : await kube.list<V1Pod>("v1", "Pod", undefined, label).catch(() => kube.list<V1Pod>("v1", "Pod", namespace, label));
  return pods.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).sort();
}

/**
 * A binding is one selector and one identity: applying its name with another selector or identity re-points it,
 * and the pods it selects lose their identity. Refused unless `force`, naming those pods; with `force`, the same
 * words come back as a warning. `remedy` says, in the caller's own commands and flags, how to force it or avoid it.
 */
export async function guardRepoint(kube: KubeSession, existing: AzureIdentityBinding | undefined, want: { name: string; namespace: string; identityName: string; selector: string }, force: boolean, remedy: string): Promise<string | undefined> {
  if (!existing) return undefined;
  const { azureIdentity: wasIdentity, selector: wasSelector } = bindingSpec(existing);
  const was = { identity: wasIdentity, selector: wasSelector };
  if (was.identity === want.identityName && was.selector === want.selector) return undefined;
  // A binding without a selector or an identity (e.g. pre-1.6 field names, which v1 prunes) gives nobody anything.
  if (!was.identity || !was.selector) return undefined;
  const losing = await podsHolding(kube, existing);
  if (!losing) return undefined;
  const change = [was.selector !== want.selector ? `selector '${was.selector}' to '${want.selector}'` : "", was.identity !== want.identityName ? `AzureIdentity '${was.identity}' to '${want.identityName}'` : ""].filter(Boolean).join(" and ");
  const what = `AzureIdentityBinding ${want.namespace}/${want.name} binds selector '${was.selector}' to AzureIdentity '${was.identity}'; changing its ${change} re-points it`;
  const who = losing.length ? `pod${losing.length === 1 ? "" : "s"} ${losing.join(", ")}` : `pods labelled ${BINDING_LABEL}=${was.selector}`;
  const loss = (verb: string) => `: ${who} ${verb} identity '${was.identity}'`;
  if (force) return `${what}${loss(losing.length === 1 ? "loses" : "lose")}`;
  throw new UsageError(`${what}${loss("would lose")}`, `${remedy}: each binding is one selector and one identity.`, UsageCode.WouldRepoint);
}

/**
 * Keeps a podid AzureIdentity's record of its bindings (annotation podid.io/bindings) in step with bind and unbind,
 * so that doctor's fix for a binding deleted by hand restores it. A merge patch of that one annotation: what
 * `identity add` applied is left as it is.
 */
async function recordBinding(kube: KubeSession, namespace: string, identityName: string, change: { add?: RecordedBinding; remove?: string }): Promise<void> {
  const header = { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name: identityName, namespace } };
  const live = await kube.read<AzureIdentity>(header);
  if (!live || live.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_PODID) return;
  const next = bindingsAnnotation(withBinding(readIdentityRecord(live.metadata.annotations).record.bindings ?? [], change.add, change.remove))[RECORD_ANNOTATIONS.bindings] ?? null;
  if ((live.metadata.annotations?.[RECORD_ANNOTATIONS.bindings] ?? null) === next) return;
  await kube.patchAnnotations(header, { [RECORD_ANNOTATIONS.bindings]: next });
}

/** A partial object carrying only the label, so server-side apply makes podid the owner of just that field. */
function labelPatch(ref: WorkloadRef, namespace: string, labels: Record<string, string>): { apiVersion: string; kind: string; metadata: { name: string; namespace: string } } {
  const w = WORKLOADS[ref.kind];
  const object: Record<string, unknown> = { apiVersion: w.apiVersion, kind: w.kind, metadata: { name: ref.name, namespace } };
  let at = object;
  w.path.forEach((key, i) => {
    const isLast = i === w.path.length - 1;
    const existing = (at[key] as Record<string, unknown> | undefined) ?? {};
    at[key] = isLast ? { ...existing, ...labels } : existing;
    at = at[key] as Record<string, unknown>;
  });
  return object as ReturnType<typeof labelPatch>;
}

/**
 * Whether the API server takes the label on this workload, asked before anything is made (a server-side dry run):
 * kube-apiserver refuses any change to a Job's pod template (field is immutable), except on a suspended Job that
 * never started.
 */
async function labelAllowed(kube: KubeSession, w: WorkloadRef, namespace: string, selector: string): Promise<void> {
  try {
    await kube.apply(labelPatch(w, namespace, { [BINDING_LABEL]: selector }), { dryRun: true });
  } catch (err) {
    if (w.kind !== "job" || !invalidFields(err).includes("spec.template")) throw err;
    throw new UsageError(
      `Job ${namespace}/${w.name} cannot be labelled: the API server refuses changes to a Job's pod template once it is created (field is immutable)`,
      `Label the CronJob that makes it (--label cronjob/NAME), or re-create the Job from a manifest whose pod template has the label ${BINDING_LABEL}: ${selector}.`,
      UsageCode.InvalidWorkload,
    );
  }
}

export interface BindInput {
  identityName: string;
  selector: string;
  namespace: string;
  bindingName?: string;
  workloads: WorkloadRef[];
  /** Re-point an existing binding of that name to this selector and identity. */
  force?: boolean;
}

export interface BindResult {
  binding: { name: string; namespace: string; azureIdentity: string; selector: string };
  labelled: { kind: string; name: string }[];
  warnings: string[];
  steps: StepReport[];
  dryRun: boolean;
}

export async function bind(input: BindInput, kube: KubeSession, options: { dryRun: boolean; progress: (m: string) => void }): Promise<BindResult> {
  const identity = await kube.read({ apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentity", metadata: { name: input.identityName, namespace: input.namespace } });
  if (!identity) {
    if (!(await aadPodIdentityServed(kube, input.namespace))) throw notInstalled(kube, undefined);
    throw new NotFoundError(
      IdentityCode.AzureIdentityNotFound,
      `AzureIdentity '${input.identityName}' does not exist in namespace '${input.namespace}' (a binding only reaches identities in its own namespace)`,
      `Create it first: podid identity add -n ${input.identityName} -g <group> --namespace ${input.namespace}`,
    );
  }
  for (const w of input.workloads) {
    const target = labelPatch(w, input.namespace, {});
    if (!(await kube.read(target))) {
      throw new NotFoundError(IdentityCode.WorkloadNotFound, `${WORKLOADS[w.kind].kind} '${w.name}' does not exist in namespace '${input.namespace}'`, "Check --label KIND/NAME and --namespace.");
    }
    await labelAllowed(kube, w, input.namespace, input.selector);
  }
  const bindingName = input.bindingName ?? bindingNameFor(input.identityName);
  const existing = await readBinding(kube, bindingName, input.namespace);
  const repointed = await guardRepoint(kube, existing, { name: bindingName, namespace: input.namespace, identityName: input.identityName, selector: input.selector }, Boolean(input.force), "Pass --force to re-point it anyway, or give the new binding a name of its own (--name NAME)");
  const binding = renderAzureIdentityBinding({ name: bindingName, namespace: input.namespace, identityName: input.identityName, selector: input.selector });
  const before = existing ? bindingSpec(existing).azureIdentity : undefined;
  const applyBinding = applyObjectStep(kube, () => binding);
  const steps: Step[] = [
    {
      ...applyBinding,
      apply: async (progress) => {
        const done = await applyBinding.apply(progress);
        if (before && before !== input.identityName) await recordBinding(kube, input.namespace, before, { remove: bindingName });
        await recordBinding(kube, input.namespace, input.identityName, { add: { name: bindingName, selector: input.selector } });
        return done;
      },
    },
  ];
  for (const w of input.workloads) {
    steps.push(applyObjectStep(kube, () => labelPatch(w, input.namespace, { [BINDING_LABEL]: input.selector }), `label ${WORKLOADS[w.kind].kind} ${input.namespace}/${w.name} ${BINDING_LABEL}=${input.selector}`));
  }
  const reports = await runSteps(steps, options);
  return {
    binding: { name: bindingName, namespace: input.namespace, azureIdentity: input.identityName, selector: input.selector },
    labelled: input.workloads.map((w) => ({ kind: WORKLOADS[w.kind].kind, name: w.name })),
    warnings: [...(repointed ? [repointed] : []), ...(await bindWarnings(kube, input.namespace, input.selector, input.workloads.length > 0))],
    steps: reports,
    dryRun: options.dryRun,
  };
}

export interface UnbindInput {
  identityName: string;
  namespace: string;
  /** Only this binding; else every binding in the namespace that names the identity. */
  bindingName?: string;
  workloads: WorkloadRef[];
}

/**
 * Deletes the binding(s) and takes the aadpodidbinding label off the given workloads. Applying the workload
 * with no labels as field manager podid removes exactly the label podid set, and nothing another tool owns.
 */
export async function unbind(input: UnbindInput, kube: KubeSession, options: { dryRun: boolean; progress: (m: string) => void }): Promise<{ steps: StepReport[]; dryRun: boolean }> {
  const bindings = (await listAadPodIdentity<AzureIdentityBinding>(kube, "AzureIdentityBinding", input.namespace)).filter((b) =>
    input.bindingName ? b.metadata.name === input.bindingName : bindingSpec(b).azureIdentity === input.identityName,
  );
  if (input.bindingName && !bindings.length) {
    throw new NotFoundError(IdentityCode.BindingNotFound, `AzureIdentityBinding '${input.bindingName}' does not exist in namespace '${input.namespace}'`, "List them with: kubectl get azureidentitybindings -n " + input.namespace);
  }
  const steps: Step[] = bindings.map((b) => {
    const header = bindingHeader(b.metadata.name, input.namespace);
    return {
      name: `AzureIdentityBinding ${input.namespace}/${b.metadata.name}`,
      target: "cluster" as const,
      plan: async () => ({ action: "delete" as const }),
      apply: async () => {
        const deleted = await kube.delete(header);
        await recordBinding(kube, input.namespace, bindingSpec(b).azureIdentity, { remove: b.metadata.name });
        return { outcome: deleted ? ("deleted" as const) : ("absent" as const) };
      },
    };
  });
  for (const w of input.workloads) {
    steps.push(applyObjectStep(kube, () => labelPatch(w, input.namespace, {}), `unlabel ${WORKLOADS[w.kind].kind} ${input.namespace}/${w.name}`));
  }
  return { steps: await runSteps(steps, options), dryRun: options.dryRun };
}

/**
 * The upstream security note: a selector is matched in every namespace unless identities are namespaced, so the
 * same selector bound elsewhere lets pods there take this identity. Also: a selector no pod carries yet.
 */
export async function bindWarnings(kube: KubeSession, namespace: string, selector: string, labelledWorkloads: boolean): Promise<string[]> {
  const warnings: string[] = [];
  try {
    const bindings = await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding");
    const elsewhere = [...new Set(bindings.filter((b) => bindingSpec(b).selector === selector && b.metadata.namespace !== namespace).map((b) => b.metadata.namespace!))];
    if (elsewhere.length) {
      warnings.push(
        `selector '${selector}' is also bound in namespace(s) ${elsewhere.join(", ")}: pods there labelled ${BINDING_LABEL}=${selector} can get this identity unless identities are namespaced (annotate the AzureIdentity ${BEHAVIOR_ANNOTATION}=${BEHAVIOR_NAMESPACED}, or run MIC with --forceNamespaced)`,
      );
    }
  } catch {
    // Without the right to list bindings cluster-wide the check cannot be made; doctor reports that.
  }
  const pods = await kube.list("v1", "Pod", namespace, `${BINDING_LABEL}=${selector}`).catch(() => undefined);
  if (pods && pods.length === 0) {
    warnings.push(
      labelledWorkloads
        ? `no pod in '${namespace}' carries ${BINDING_LABEL}=${selector} yet; the labelled workloads' pods carry it once their controllers replace them`
        : `no pod in '${namespace}' carries ${BINDING_LABEL}=${selector}: label your pods, e.g. podid bind --selector ${selector} --identity <name> --label deployment/<name>`,
    );
  }
  return warnings;
}
