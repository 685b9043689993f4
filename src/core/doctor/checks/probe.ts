import type { V1Pod } from "@kubernetes/client-node";
import {
  CONTEXT_CANCELED,
  HOST_NOT_ALLOWED,
  NO_BINDING_LABEL_SEARCH,
  NO_IDENTITY_FOR_REQUEST,
  NOT_ASSIGNED_SEARCH,
  notAssignedIn,
  POD_LIST_EMPTY,
  TOKEN_FAILED,
} from "../../../aadpodidentity/contract/messages.js";
import { componentSelector, NMI_FLAG_DEFAULTS, NmiFlag } from "../../../aadpodidentity/contract/names.js";
import { isExceptionPod } from "../../../aadpodidentity/exceptions.js";
import { bindingSpec, identitySpec } from "../../../aadpodidentity/spec.js";
import { BINDING_LABEL, namespaceOf, type AzureAssignedIdentity } from "../../../aadpodidentity/types.js";
import { askHostToken, type HostTokenAnswer } from "../host-token-client.js";
import { USE_LABEL } from "../../../kube/workload-identity.js";
import { CheckSkipped, finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { identityOf, podRef, reaches, workloadOf } from "./matching.js";
import { installFix } from "./fixes.js";
import { shellWord } from "../../../util/shell.js";
import { podFlag } from "./runtime-pods.js";

/** What a pod's SDK asks for by default in the examples: a token for ARM. */
export const PROBE_RESOURCE = "https://management.azure.com/";
const CONNECT_TIMEOUT_MS = 3000;
/** NMI answers as soon as MIC has assigned (or cannot): long enough for a fresh assignment, short of NMI's full wait. */
const ANSWER_TIMEOUT_MS = 30_000;

/** The command that asks from inside the pod, as its SDK does (the token is not printed: only the status and the refusal). */
export function inPodCommand(pod: string, namespace: string): string {
  return `kubectl exec ${pod} -n ${namespace} -- curl -sS -o /dev/null -w '%{http_code}\\n' -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${PROBE_RESOURCE}"`;
}

function nmiPort(nmi: V1Pod): number {
  return Number(podFlag(nmi, NmiFlag.port) ?? NMI_FLAG_DEFAULTS.port);
}

async function findPod(ctx: DoctorContext): Promise<V1Pod> {
  const name = ctx.scope.pod;
  if (!name) throw new CheckSkipped("--probe needs --pod POD: the pod to ask a token for");
  const pods = await ctx.pods();
  const where = ctx.scope.namespace === undefined ? "any namespace" : `namespace ${ctx.scope.namespace}`;
  if (pods.length === 0) throw new CheckSkipped(`pod ${name} not found in ${where}`);
  if (pods.length > 1) throw new CheckSkipped(`pod ${name} exists in namespaces ${pods.map((p) => p.metadata?.namespace).join(", ")}: pass -n NAMESPACE`);
  return pods[0];
}

/** `podid bind ... --label <the pod's workload>` with the pod's namespace's first usable binding, else placeholders. */
async function bindFix(ctx: DoctorContext, pod: V1Pod): Promise<string> {
  const ns = pod.metadata?.namespace ?? "default";
  const [bindings, identities, forceNamespaced, target] = await Promise.all([ctx.allBindings(), ctx.allIdentities(), ctx.micForceNamespaced(), workloadOf(ctx, pod)]);
  const usable = bindings.filter((b) => namespaceOf(b) === ns && bindingSpec(b).selector && reaches(b, identityOf(b, identities), ns, forceNamespaced));
  const b = usable.sort((x, y) => x.metadata.name.localeCompare(y.metadata.name))[0];
  if (b) return `podid bind --selector ${shellWord(bindingSpec(b).selector)} --identity ${bindingSpec(b).azureIdentity} --namespace ${ns} --name ${b.metadata.name} --label ${target}`;
  return `podid bind --selector <selector> --identity <identity> --namespace ${ns} --label ${target}`;
}

/** The pod's AzureAssignedIdentities and the latest warning MIC recorded on them. */
async function assignmentsOf(ctx: DoctorContext, pod: V1Pod): Promise<{ names: string[]; statuses: string[]; micSays?: string }> {
  const ns = pod.metadata?.namespace;
  const name = pod.metadata?.name;
  const aais = (await ctx.assignedIdentities()).filter((a) => a.spec?.pod === name && a.spec?.podNamespace === ns);
  let micSays: string | undefined;
  try {
    const events = (await ctx.events()) as { involvedObject?: { kind?: string; name?: string; namespace?: string }; type?: string; message?: string; lastTimestamp?: string }[];
    micSays = events
      .filter((e) => e.type === "Warning" && e.involvedObject?.kind === "AzureAssignedIdentity" && aais.some((a) => a.metadata.name === e.involvedObject?.name && a.metadata.namespace === e.involvedObject?.namespace))
      .sort((a, b) => String(a.lastTimestamp ?? "").localeCompare(String(b.lastTimestamp ?? "")))
      .pop()?.message;
  } catch {
    /* events unreadable: the explanation goes without MIC's words */
  }
  return { names: aais.map((a) => `${a.metadata.namespace}/${a.metadata.name}`), statuses: aais.map((a) => a.status?.status ?? ""), micSays };
}

/** Explains a refusal (or NMI's silence) by what it means for this pod, with the fix. */
async function explain(ctx: DoctorContext, pod: V1Pod, answer: HostTokenAnswer, nmiNamespace: string): Promise<Finding> {
  const ns = pod.metadata?.namespace ?? "default";
  const ref = podRef(pod);
  const label = pod.metadata?.labels?.[BINDING_LABEL];
  const said = answer.status ? `NMI answered ${answer.status}: ${answer.message ?? ""}` : `NMI did not answer within ${ANSWER_TIMEOUT_MS / 1000} s (it waits for MIC to assign an identity)`;
  const errors = [...(answer.message ? [answer.message] : [])];
  const msg = answer.message ?? "";
  if (msg.includes(NO_BINDING_LABEL_SEARCH) || (!answer.status && label === undefined)) {
    return finding("fail", `${ref} was refused a token: it carries no ${BINDING_LABEL} label, so no AzureIdentityBinding selects it and MIC assigns it no identity (${said})`, {
      errors: [...errors, "No AzureAssignedIdentity found for pod", "404"],
      fix: await bindFix(ctx, pod),
      objects: [ref],
    });
  }
  const assignments = await assignmentsOf(ctx, pod);
  if (msg.includes(notAssignedIn("CREATED")) || msg.includes(CONTEXT_CANCELED) || (!answer.status && assignments.names.length === 0)) {
    return finding("fail", `${ref} was refused a token: it is labelled ${BINDING_LABEL}=${label}, but MIC created no AzureAssignedIdentity for it, so no binding MIC would use selects that value (see check pod-labels) (${said})`, {
      errors: [...errors, ...NOT_ASSIGNED_SEARCH, "No AzureAssignedIdentity found for pod"],
      fix: await bindFix(ctx, pod),
      objects: [ref],
    });
  }
  if (msg.includes(notAssignedIn("ASSIGNED")) || !answer.status) {
    return finding("fail", `${ref} was refused a token: MIC created AzureAssignedIdentity ${assignments.names.join(", ")} (${assignments.statuses.join(", ") || "no status"}) but has not attached the identity to the node${assignments.micSays ? `; MIC says: ${assignments.micSays}` : ""} (see checks assigned-identities and scale-set-errors) (${said})`, {
      errors: [...errors, notAssignedIn("ASSIGNED"), ...(assignments.micSays ? [assignments.micSays] : [])],
      fix: `kubectl describe azureassignedidentity ${assignments.names[0]?.split("/")[1] ?? "<name>"} -n ${assignments.names[0]?.split("/")[0] ?? ns}   # MIC's reason; then the fix its check gives`,
      objects: [ref, ...assignments.names.map((n) => `AzureAssignedIdentity ${n}`)],
    });
  }
  if (msg.includes(TOKEN_FAILED)) {
    return finding("fail", `${ref} was matched with its identity, but the token request for it failed: the identity is not on the node's scale set, or it was deleted and re-created (see checks scale-set attachments and recreated-identity) (${said})`, {
      errors: [...errors, TOKEN_FAILED, "Identity not found"],
      fix: `kubectl logs -n ${nmiNamespace} -l ${componentSelector("nmi")} --tail=50 | grep ${shellWord(pod.metadata?.name ?? "")}`,
      objects: [ref],
    });
  }
  if (msg.includes(NO_IDENTITY_FOR_REQUEST)) {
    return finding("fail", `${ref} was refused a token: the identities assigned to it are namespaced identities of another namespace (${said})`, {
      errors: [...errors, NO_IDENTITY_FOR_REQUEST],
      fix: await bindFix(ctx, pod),
      objects: [ref],
    });
  }
  return finding("fail", `${ref} was refused a token (${said})`, { errors, objects: [ref], fix: await installFix(ctx) });
}

/**
 * 14. `--probe --pod POD`: asks the pod's node's NMI for a token on the pod's behalf, through NMI's host-token
 * route (the only way to ask "as" a pod without being it: NMI knows callers of the metadata route by their TCP
 * source address). NMI serves that route only to its own node, so this works where doctor runs on the node (and
 * in the sandbox, whose nodes are local addresses); anywhere else the check is skipped with the command to run in
 * the pod. The token is dropped unread: only the status, the client id and the expiry are reported.
 */
export const probeCheck: Check = {
  id: "probe",
  number: 14,
  title: "token request for a pod through its node's NMI",
  notApplicable: (ctx) => (ctx.scope.probe ? undefined : "not asked (--probe --pod POD)"),
  async run(ctx) {
    const pod = await findPod(ctx);
    if (pod.metadata?.labels?.[USE_LABEL] === "true" && pod.metadata.labels[BINDING_LABEL] === undefined) {
      throw new CheckSkipped("the pod is on workload identity alone (no aadpodidbinding label): NMI serves it nothing; check wi-federation makes the token exchange on its behalf");
    }
    const name = pod.metadata!.name!;
    const ns = pod.metadata?.namespace ?? "default";
    const ref = podRef(pod);
    const node = pod.spec?.nodeName;
    const observed: Record<string, unknown> = { pod: `${ns}/${name}`, node, resource: PROBE_RESOURCE };
    if (!node) {
      return { observed, findings: [finding("fail", `${ref} is not scheduled on a node yet: NMI answers only for pods of its node`, { errors: [POD_LIST_EMPTY], objects: [ref] })] };
    }
    const { nmi } = await ctx.runtimePods();
    const mine = nmi.find((p) => p.spec?.nodeName === node && p.status?.phase === "Running");
    if (!mine) {
      return {
        observed,
        findings: [
          finding("fail", `no running NMI on node ${node}, where ${ref} runs: its token requests reach no NMI (see check nmi)`, {
            errors: ["dial tcp 169.254.169.254:80: connect: connection refused", "i/o timeout"],
            fix: await installFix(ctx),
            objects: [ref, `Node ${node}`],
          }),
        ],
      };
    }
    const host = mine.status?.podIP ?? mine.status?.hostIP;
    const port = nmiPort(mine);
    const inPod = inPodCommand(name, ns);
    if (!host) throw new CheckSkipped(`NMI pod ${mine.metadata?.name} on node ${node} has no address yet; run in the pod: ${inPod}`);
    Object.assign(observed, { nmi: `${mine.metadata?.namespace}/${mine.metadata?.name}`, asked: `http://${host}:${port}/host/token/` });
    // As the pod's SDK would ask once configured for its identity: with the client id its assignment carries (MIC's
    // copy of the AzureIdentity). Without one, NMI picks an identity itself, and a stale client id goes unseen.
    const assigned = (await ctx.assignedIdentities().catch(() => [] as AzureAssignedIdentity[]))
      .filter((a) => a.spec?.pod === name && a.spec?.podNamespace === ns && a.spec.azureIdentityRef)
      .sort((x, y) => x.metadata.name.localeCompare(y.metadata.name));
    const clientId = assigned.map((a) => identitySpec(a.spec.azureIdentityRef).clientID).find(Boolean);
    if (clientId) observed.clientIdAsked = clientId;
    const answer = await askHostToken({ host, port, namespace: ns, pod: name, resource: PROBE_RESOURCE, clientId, connectTimeoutMs: CONNECT_TIMEOUT_MS, answerTimeoutMs: ANSWER_TIMEOUT_MS });
    Object.assign(observed, { status: answer.status, ...(answer.message ? { message: answer.message } : {}) });
    if (answer.status === 500 && answer.message === HOST_NOT_ALLOWED) {
      throw new CheckSkipped(`NMI on node ${node} answered "${HOST_NOT_ALLOWED}": it serves token requests on a pod's behalf only to callers on that node. Run doctor on the node, or ask from inside the pod: ${inPod}`);
    }
    if (answer.status === undefined && !(answer.timedOut && /did not answer/.test(answer.error ?? ""))) {
      throw new CheckSkipped(`NMI on node ${node} (${host}:${port}) cannot be reached from here (${answer.error}); NMI serves token requests on a pod's behalf only on its node. Run doctor on the node, or ask from inside the pod: ${inPod}`);
    }
    // NMI's host route never applies exceptions; from inside an exempted pod, NMI hands the request to the node's IMDS.
    const exemptBy = (await ctx.exceptions().catch(() => [])).filter((e) => isExceptionPod(pod, [e])).map((e) => `AzurePodIdentityException ${e.metadata.namespace}/${e.metadata.name}`);
    if (exemptBy.length) observed.exemptBy = exemptBy;
    if (answer.status === 200) {
      const aais = (await ctx.assignedIdentities()).filter((a) => a.spec?.pod === name && a.spec?.podNamespace === ns);
      const match = aais.find((a) => a.spec?.azureIdentityRef && identitySpec(a.spec.azureIdentityRef).clientID.toLowerCase() === answer.clientId?.toLowerCase());
      Object.assign(observed, {
        clientId: answer.clientId,
        ...(match ? { identity: `AzureIdentity ${match.spec.azureIdentityRef!.metadata.namespace}/${match.spec.azureIdentityRef!.metadata.name}` } : {}),
        expiresOn: answer.expiresOn,
      });
      return { observed, findings: [] };
    }
    const refused = await explain(ctx, pod, answer, mine.metadata?.namespace ?? "");
    if (exemptBy.length) {
      refused.message += `. Note: the pod matches ${exemptBy.join(", ")}, so from inside the pod NMI passes its token requests to the node's IMDS instead (see check exceptions)`;
      refused.objects.push(...exemptBy);
    }
    return { observed, findings: [refused] };
  },
};
