import type { V1Pod } from "@kubernetes/client-node";
import type { Cloud } from "../../azure/cloud.js";
import { exchangeAssertion } from "../../azure/token-exchange.js";
import type { KubeSession } from "../../kube/session.js";
import { requestServiceAccountToken } from "../../kube/service-account-tokens.js";
import { injectionProblem, TOKEN_EXCHANGE_AUDIENCE, USE_LABEL } from "../../kube/workload-identity.js";
import { isWorkloadKind, type Workload } from "../../kube/workloads.js";
import type { IdentityPlan, WorkloadPlan } from "./model.js";
import { waitForRollout, workloadPods } from "./rollout.js";

/**
 * Phase 4: does a new pod of the workload get a token through workload identity? Checked as doctor's probe checks
 * pod identity, on the pod's behalf without being in it: the pod runs the new template and is ready, the webhook
 * injected what the SDK reads (token file, client id; the proxy sidecar when asked), and Entra ID exchanges a token
 * the API server issues for the pod's ServiceAccount bound to that pod (what the kubelet projects into it) for
 * each of the workload's identities. The token Entra ID issues is dropped unread.
 */

export type Verification = { ok: true; by: "pod" | "serviceaccount"; pod?: string } | { ok: false; reason: string };

const ready = (p: V1Pod) => (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/** Entra ID's refusal of an exchange: its code (AADSTS70021 ...) and what to tell the user. */
export interface Refusal {
  code: string;
  message: string;
}

/** An identity as the exchange needs it: which client, in which tenant (and its name, for the message). */
export type ExchangeIdentity = Pick<IdentityPlan, "namespace" | "name" | "clientId" | "tenantId">;

/** Entra ID's exchange of a token of the ServiceAccount (bound to the pod when there is one), for each identity. */
export async function exchangeFor(
  kube: KubeSession,
  cloud: Cloud,
  input: { namespace: string; serviceAccount: string; pod?: { name: string; uid: string }; identities: ExchangeIdentity[] },
): Promise<Refusal | undefined> {
  const assertion = await requestServiceAccountToken(kube, input.namespace, input.serviceAccount, { audience: TOKEN_EXCHANGE_AUDIENCE, pod: input.pod });
  for (const identity of input.identities) {
    const answer = await exchangeAssertion({ cloud, tenantId: identity.tenantId ?? "", clientId: identity.clientId, assertion });
    if (!answer.ok) return { code: answer.code, message: `Entra ID refused the token exchange for identity ${identity.namespace}/${identity.name} (client id ${identity.clientId}): ${answer.code}: ${answer.message}` };
  }
  return undefined;
}

export async function verifyWorkload(
  kube: KubeSession,
  cloud: Cloud,
  p: WorkloadPlan,
  identities: IdentityPlan[],
  options: { timeoutMs: number; since: Date; progress: (m: string) => void },
): Promise<Verification> {
  if (!isWorkloadKind(p.kind) || !p.serviceAccount) return { ok: false, reason: "not a workload podid migrates" };
  const rollout = await waitForRollout(kube, { kind: p.kind, namespace: p.namespace, name: p.name }, options);
  if (!rollout.complete) return { ok: false, reason: rollout.reason };
  const w: Workload = rollout.workload;
  const sa = p.serviceAccount.target;
  const pods = (await workloadPods(kube, w)).filter((pod) => ready(pod) && !pod.metadata?.deletionTimestamp && pod.metadata?.labels?.[USE_LABEL] === "true" && pod.spec?.serviceAccountName === sa);
  const mine = identities.filter((i) => p.identities.includes(`${i.namespace}/${i.name}`));
  if (!pods.length) {
    // A CronJob between runs, or a workload scaled to 0: no pod to ask for, so the ServiceAccount's own token.
    if (p.kind !== "CronJob" && (w.spec?.replicas ?? 1) !== 0) return { ok: false, reason: `no ready pod of ${p.ref} runs as ServiceAccount ${sa} with label ${USE_LABEL}=true` };
    const refused = await exchangeFor(kube, cloud, { namespace: p.namespace, serviceAccount: sa, identities: mine });
    return refused ? { ok: false, reason: refused.message } : { ok: true, by: "serviceaccount" };
  }
  const pod = pods[0];
  const problem = injectionProblem(pod, { clientId: mine[0]?.clientId, proxy: p.proxySidecar });
  if (problem) return { ok: false, reason: `pod ${pod.metadata?.name}: ${problem}` };
  const refused = await exchangeFor(kube, cloud, { namespace: p.namespace, serviceAccount: sa, pod: { name: pod.metadata!.name!, uid: pod.metadata!.uid! }, identities: mine });
  return refused ? { ok: false, reason: `pod ${pod.metadata?.name}: ${refused.message}` } : { ok: true, by: "pod", pod: pod.metadata?.name };
}
