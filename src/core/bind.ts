import { IdentityCode, NotFoundError } from "../errors/index.js";
import { WORKLOADS, type WorkloadRef } from "./workload-kinds.js";
import { bindingSpec } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, BEHAVIOR_ANNOTATION, BEHAVIOR_NAMESPACED, BINDING_LABEL, type AzureIdentityBinding } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { renderAzureIdentityBinding } from "../render/identity.js";
import { bindingNameFor } from "./identity-add.js";
import { applyObjectStep } from "./apply-step.js";
import { runSteps, type Step, type StepReport } from "./steps.js";

export { parseWorkloadRef, WORKLOAD_KINDS_HELP, type WorkloadRef } from "./workload-kinds.js";

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

export interface BindInput {
  identityName: string;
  selector: string;
  namespace: string;
  bindingName?: string;
  workloads: WorkloadRef[];
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
  }
  const bindingName = input.bindingName ?? bindingNameFor(input.identityName);
  const binding = renderAzureIdentityBinding({ name: bindingName, namespace: input.namespace, identityName: input.identityName, selector: input.selector });
  const steps: Step[] = [applyObjectStep(kube, () => binding)];
  for (const w of input.workloads) {
    steps.push(applyObjectStep(kube, () => labelPatch(w, input.namespace, { [BINDING_LABEL]: input.selector }), `label ${WORKLOADS[w.kind].kind} ${input.namespace}/${w.name} ${BINDING_LABEL}=${input.selector}`));
  }
  const reports = await runSteps(steps, options);
  return {
    binding: { name: bindingName, namespace: input.namespace, azureIdentity: input.identityName, selector: input.selector },
    labelled: input.workloads.map((w) => ({ kind: WORKLOADS[w.kind].kind, name: w.name })),
    warnings: await bindWarnings(kube, input.namespace, input.selector, input.workloads.length > 0),
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
  const bindings = (await kube.list<AzureIdentityBinding>(AAD_POD_IDENTITY_API_VERSION, "AzureIdentityBinding", input.namespace)).filter((b) =>
    input.bindingName ? b.metadata.name === input.bindingName : bindingSpec(b).azureIdentity === input.identityName,
  );
  if (input.bindingName && !bindings.length) {
    throw new NotFoundError(IdentityCode.BindingNotFound, `AzureIdentityBinding '${input.bindingName}' does not exist in namespace '${input.namespace}'`, "List them with: kubectl get azureidentitybindings -n " + input.namespace);
  }
  const steps: Step[] = bindings.map((b) => {
    const header = { apiVersion: AAD_POD_IDENTITY_API_VERSION, kind: "AzureIdentityBinding", metadata: { name: b.metadata.name, namespace: input.namespace } };
    return {
      name: `AzureIdentityBinding ${input.namespace}/${b.metadata.name}`,
      target: "cluster" as const,
      plan: async () => ({ action: "delete" as const }),
      apply: async () => ({ outcome: (await kube.delete(header)) ? ("deleted" as const) : ("absent" as const) }),
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
