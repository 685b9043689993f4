import { isActivePod } from "../../../aadpodidentity/pods.js";
import type { V1Pod } from "@kubernetes/client-node";
import type { FederatedCredential } from "../../../azure/federated-credentials.js";
import { exchangeAssertion } from "../../../azure/token-exchange.js";
import { requestServiceAccountToken } from "../../../kube/service-account-tokens.js";
import { injectionProblem, serviceAccountSubject, TOKEN_EXCHANGE_AUDIENCE } from "../../../kube/workload-identity.js";
import { CheckSkipped, finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { podTemplateOf, templateServiceAccount } from "../../../kube/workloads.js";
import { clusterProfile, credentialsOf, identityByClientId, podClientId, scopeWorkloads, wiPodRef, workloadIdentityPods } from "./workload-identity.js";
import { shellWord } from "../../../util/shell.js";

/** The audience of the pod's projected token for the exchange (the webhook's is api://AzureADTokenExchange). */
function tokenAudience(p: V1Pod): string {
  for (const v of p.spec?.volumes ?? []) for (const s of v.projected?.sources ?? []) if (s.serviceAccountToken?.audience) return s.serviceAccountToken.audience;
  return TOKEN_EXCHANGE_AUDIENCE;
}

/** What the check knows of the cluster to tell a near miss from another workload's credential. */
export interface NearMissContext {
  /** `namespace/serviceaccount` that pods (not ended) or workload templates run as. */
  inUse: ReadonlySet<string>;
  /** Whether the ServiceAccount exists (undefined: could not be read). */
  exists(namespace: string, name: string): Promise<boolean | undefined>;
}

/**
 * What a credential that almost matches says happened, if it is a near miss: a namespace or ServiceAccount renamed
 * (the credential names one nothing runs as, or that is gone), another issuer (another cluster's, a trailing slash).
 * Credentials other workloads use are not near misses: they are theirs. Same issuer and subject with another
 * audience is not a miss of the name at all (audienceMismatch).
 */
export async function nearMiss(c: FederatedCredential, want: { issuer: string; subject: string }, context: NearMissContext): Promise<string | undefined> {
  const [, , ns, sa] = want.subject.split(":");
  const [, , cns, csa] = c.subject.split(":");
  if (c.issuer === want.issuer && c.subject !== want.subject && cns !== undefined && csa !== undefined) {
    if (csa === sa && cns !== ns && (await context.exists(cns, csa)) === false) return `credential ${c.name} names ${c.subject}, a ServiceAccount that does not exist: the namespace was ${cns} when it was made (renamed since?)`;
    if (cns === ns && csa !== sa && !context.inUse.has(`${cns}/${csa}`)) return `credential ${c.name} names ${c.subject}, which nothing runs as: the pod runs as ServiceAccount ${sa} now (renamed or changed since?)`;
    return undefined;
  }
  if (c.subject === want.subject && c.issuer !== want.issuer) return `credential ${c.name} names issuer ${c.issuer}, not this cluster's ${want.issuer}${c.issuer.replace(/\/$/, "") === want.issuer.replace(/\/$/, "") ? " (a trailing slash: Entra ID compares exactly)" : ""}`;
  return undefined;
}

/** The credential that has the pod's issuer and subject but not its audience (an identity holds one per issuer and subject). */
export function audienceMismatch(credentials: readonly FederatedCredential[], want: { issuer: string; subject: string; audience: string }): FederatedCredential | undefined {
  return credentials.find((c) => c.issuer === want.issuer && c.subject === want.subject && !(c.audiences.length === 1 && c.audiences[0] === want.audience));
}

/** Who runs as which ServiceAccount in the scope: pods that have not ended, and workload templates. */
async function serviceAccountsInUse(ctx: Parameters<Check["run"]>[0]): Promise<Set<string>> {
  const [pods, workloads] = await Promise.all([ctx.pods(), scopeWorkloads(ctx)]);
  const inUse = new Set<string>();
  for (const p of pods) if (isActivePod(p)) inUse.add(`${p.metadata?.namespace}/${p.spec?.serviceAccountName ?? "default"}`);
  for (const w of workloads) inUse.add(`${w.metadata.namespace}/${templateServiceAccount(podTemplateOf(w))}`);
  return inUse;
}

/**
 * 23. Each pod on workload identity has a federated credential on its identity that names exactly the cluster's
 * issuer, `system:serviceaccount:<namespace>:<serviceaccount>` and the token's audience: without one Entra ID
 * answers AADSTS70021 (the most reported workload identity failure; a namespace or ServiceAccount renamed after
 * the credential was made is the usual cause). With --probe --pod POD, also asks Entra ID for a token on the pod's
 * behalf, with a token of its ServiceAccount bound to it (dropped unread).
 */
export const wiFederationCheck: Check = {
  id: "wi-federation",
  number: 23,
  title: "workload identity: a federated credential matches each pod's issuer, subject and audience (AADSTS70021)",
  async run(ctx) {
    const pods = (await workloadIdentityPods(ctx)).filter((p) => !injectionProblem(p));
    if (!pods.length) return { observed: { pods: [] }, findings: [] };
    const profile = await clusterProfile(ctx);
    if (!profile.issuerUrl) throw new CheckSkipped("the cluster has no OIDC issuer (see check wi-cluster)");
    const issuer = profile.issuerUrl;
    const observed: Record<string, unknown> = { issuer };
    const findings: Finding[] = [];
    let inUse: Set<string> | undefined;
    for (const pod of pods) {
      const ns = pod.metadata?.namespace ?? "default";
      const sa = pod.spec?.serviceAccountName ?? "default";
      const want = { issuer, subject: serviceAccountSubject(ns, sa), audience: tokenAudience(pod) };
      const clientId = podClientId(pod)!;
      const identity = await identityByClientId(ctx, clientId);
      const key = `${ns}/${pod.metadata?.name}`;
      if (!identity) {
        observed[key] = { clientId, identity: null };
        findings.push(finding("warn", `${wiPodRef(pod)} uses client id ${clientId}, which is no user-assigned identity of subscription ${ctx.azure.subscriptionId} (an app registration, or another subscription): its federated credentials were not checked`, { objects: [wiPodRef(pod)] }));
        continue;
      }
      const credentials = await credentialsOf(ctx, identity.id);
      const match = credentials.find((c) => c.issuer === want.issuer && c.subject === want.subject && c.audiences.length === 1 && c.audiences[0] === want.audience);
      observed[key] = { clientId, identity: identity.id, subject: want.subject, credential: match?.name ?? null };
      if (!match) {
        const objects = [wiPodRef(pod), identity.id];
        const wrong = audienceMismatch(credentials, want);
        if (wrong) {
          // Entra ID holds one credential per issuer and subject: creating another fails; this one is updated.
          findings.push(
            finding("fail", `${wiPodRef(pod)} runs as ${want.subject} with identity ${identity.name} (client id ${clientId}), whose federated credential ${wrong.name} names this issuer and subject with audience ${wrong.audiences.join(", ")}, not ${want.audience}: Entra ID answers AADSTS70021`, {
              errors: ["AADSTS70021", "No matching federated identity record found for presented assertion"],
              fix: `az identity federated-credential update --name ${wrong.name} --identity-name ${identity.name} --resource-group ${identity.resourceGroup} --audiences ${shellWord(want.audience)}`,
              objects: [...objects, `${identity.id}/federatedIdentityCredentials/${wrong.name}`],
            }),
          );
          continue;
        }
        const context: NearMissContext = {
          inUse: (inUse ??= await serviceAccountsInUse(ctx)),
          exists: async (namespace, name) => {
            try {
              return (await ctx.read({ apiVersion: "v1", kind: "ServiceAccount", metadata: { namespace, name } })) !== undefined;
            } catch {
              return undefined;
            }
          },
        };
        const misses = (await Promise.all(credentials.map(async (c) => ({ c, hint: await nearMiss(c, want, context) })))).filter((m): m is { c: FederatedCredential; hint: string } => Boolean(m.hint));
        const name = `${ns}-${sa}`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 100);
        findings.push(
          finding("fail", `${wiPodRef(pod)} runs as ${want.subject} with identity ${identity.name} (client id ${clientId}), which has no federated credential for issuer ${issuer}, that subject and audience ${want.audience}: Entra ID answers AADSTS70021${misses.length ? `; ${misses.map((m) => m.hint).join("; ")}` : ""}`, {
            errors: ["AADSTS70021", "No matching federated identity record found for presented assertion"],
            fix: `az identity federated-credential create --name ${name} --identity-name ${identity.name} --resource-group ${identity.resourceGroup} --issuer ${shellWord(issuer)} --subject ${shellWord(want.subject)} --audience ${shellWord(want.audience)}`,
            objects: [...objects, ...misses.map((m) => `${identity.id}/federatedIdentityCredentials/${m.c.name}`)],
          }),
        );
        continue;
      }
      if (ctx.scope.probe && ctx.scope.pod === pod.metadata?.name) {
        const assertion = await requestServiceAccountToken(ctx.kube, ns, sa, { audience: want.audience, pod: { name: pod.metadata!.name!, uid: pod.metadata!.uid! } });
        const answer = await exchangeAssertion({ cloud: ctx.azure.cloud, tenantId: identity.tenantId, clientId, assertion });
        observed[key] = { ...(observed[key] as object), exchange: answer.ok ? { status: "ok", expiresOn: answer.expiresOn } : { status: "refused", code: answer.code } };
        if (!answer.ok) {
          findings.push(finding("fail", `Entra ID refused ${wiPodRef(pod)}'s token exchange for identity ${identity.name}: ${answer.message}`, { errors: [answer.code], objects: [wiPodRef(pod), identity.id] }));
        }
      }
    }
    return { observed, findings };
  },
};
