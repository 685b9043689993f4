import type { V1Pod } from "@kubernetes/client-node";
import type { AzureAssignedIdentity } from "../../../kube/aadpodidentity.js";
import { finding, type Finding, type Severity } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { installFix } from "./fixes.js";

type Event = { involvedObject?: { kind?: string; name?: string; namespace?: string }; type?: string; reason?: string; message?: string; count?: number; lastTimestamp?: string; eventTime?: string };

/** The ARM refusals MIC reports on scale-set reads and writes, each with what it means and how it is fixed. */
interface Trouble {
  id: "throttled" | "identity-limit" | "linked-authorization" | "authorization" | "identity-operation";
  test: RegExp;
  severity: Severity;
  errors: string[];
  explain: string;
  fix: (ctx: DoctorContext, text: string) => Promise<string>;
}

const IDENTITY_ID = /\/subscriptions\/[^/'",\s]+\/resourcegroups\/([^/'",\s]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/'",\s]+/gi;
const micLogs = "kubectl logs -n kube-system -l app.kubernetes.io/component=mic --tail=200";

const TROUBLES: Trouble[] = [
  {
    id: "linked-authorization",
    test: /LinkedAuthorizationFailed|userAssignedIdentities\/assign\/action/i,
    severity: "fail",
    errors: ["LinkedAuthorizationFailed", "does not have permission to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action'"],
    explain: "LinkedAuthorizationFailed: ARM refused to attach the identity: the kubelet identity may write the scale set but may not assign the identity (Managed Identity Operator on the identity or its resource group is missing)",
    fix: async (ctx, text) => {
      const groups = [...new Set([...text.matchAll(IDENTITY_ID)].map((m) => m[1]))];
      return `${await installFix(ctx, ...groups.flatMap((g) => ["--identity-resource-group", g]))}   # grants the kubelet identity Managed Identity Operator there (see check kubelet-roles)`;
    },
  },
  {
    id: "authorization",
    test: /\bAuthorizationFailed\b/,
    severity: "fail",
    errors: ["AuthorizationFailed", "Microsoft.Compute/virtualMachineScaleSets/write"],
    explain: "AuthorizationFailed: ARM refused the kubelet identity on the scale set itself (Virtual Machine Contributor on the node resource group is missing)",
    fix: (ctx) => installFix(ctx),
  },
  {
    id: "identity-limit",
    test: /exceed limit '150'|Assign exceed limit|150 identities/i,
    severity: "fail",
    errors: ["User Assigned Identities Number", "exceed limit '150' in one request"],
    explain: "identity limit: ARM accepts at most 150 user-assigned identities in one scale-set request; upstream MIC before v1.7.0 sent them all at once and stayed wedged",
    fix: async (ctx) => `${await installFix(ctx)}   # podid's MIC sends them in chunks of 150; also check how many identities the node's pods need: kubectl get azureassignedidentities -A`,
  },
  {
    id: "throttled",
    test: /\b429\b|TooManyRequests|throttl/i,
    severity: "warn",
    errors: ["429", "TooManyRequests", "The request is being throttled", "VMSSUpdate client throttled", "Azure is busy"],
    explain: "429 TooManyRequests: ARM is throttling the scale-set calls: MIC waits for Retry-After and retries, and pods wait for their identity meanwhile. Usually something else writes the scale set too (a cluster upgrade, another controller), or an AzureIdentity that always fails is retried every cycle",
    fix: async () => `${micLogs} | grep -iE '429|throttl|busy'   # MIC retries on its own after Retry-After; remove what else hammers the scale set, and any AzureIdentity doctor reports as failing`,
  },
  {
    id: "identity-operation",
    test: /FailedIdentityOperation/,
    severity: "fail",
    errors: ["FailedIdentityOperation", "Identity not found"],
    explain: "FailedIdentityOperation: ARM refused an identity in the request (it does not exist, or was re-created) (see checks azure-identities and recreated-identity)",
    fix: async () => `${micLogs} | grep FailedIdentityOperation`,
  },
];

const aaiKey = (a: { namespace?: string; name?: string }) => `${a.namespace ?? "default"}/${a.name}`;

async function micLogLines(ctx: DoctorContext, mic: readonly V1Pod[]): Promise<{ pod: string; line: string }[]> {
  const out: { pod: string; line: string }[] = [];
  for (const p of mic) {
    try {
      const log = await ctx.podLog(p.metadata?.namespace ?? "kube-system", p.metadata?.name ?? "", 300);
      for (const line of log.split("\n")) if (line.trim()) out.push({ pod: `${p.metadata?.namespace}/${p.metadata?.name}`, line: line.trim() });
    } catch {
      /* logs unreadable: events and statuses still tell */
    }
  }
  return out;
}

/**
 * 18. Scale-set trouble MIC reported: ARM throttling (429), the 150-identities-per-request limit, and refusals
 * (LinkedAuthorizationFailed, AuthorizationFailed, FailedIdentityOperation), from MIC's Warning Events on
 * AzureAssignedIdentities that are still not Assigned (or still being removed) and, for retries that have not
 * given up yet, from MIC's log while assignments wait. Past trouble that has cleared does not count.
 */
export const scaleSetErrorsCheck: Check = {
  id: "scale-set-errors",
  number: 18,
  title: "scale-set errors MIC reported (throttling, 150-identity limit, LinkedAuthorizationFailed)",
  async run(ctx) {
    const [aais, events, runtime] = await Promise.all([ctx.assignedIdentities(), ctx.events() as Promise<Event[]>, ctx.runtimePods().catch(() => ({ mic: [] as V1Pod[], nmi: [] as V1Pod[] }))]);
    const inScope = (a: AzureAssignedIdentity) => ctx.scope.namespace === undefined || a.spec?.podNamespace === ctx.scope.namespace || a.metadata.namespace === ctx.scope.namespace;
    const waiting = aais.filter((a) => inScope(a) && (a.status?.status !== "Assigned" || a.metadata.deletionTimestamp));
    const byKey = new Map(waiting.map((a) => [aaiKey(a.metadata), a]));
    const hits = new Map<Trouble, { aais: Set<string>; texts: Set<string> }>();
    const hit = (t: Trouble, text: string, aai?: string) => {
      const h = hits.get(t) ?? { aais: new Set<string>(), texts: new Set<string>() };
      if (aai) h.aais.add(aai);
      h.texts.add(text);
      hits.set(t, h);
    };
    const latest = new Map<string, Event>();
    for (const e of events) {
      if (e.type !== "Warning" || e.involvedObject?.kind !== "AzureAssignedIdentity") continue;
      const key = aaiKey(e.involvedObject);
      if (!byKey.has(key)) continue;
      const at = (x: Event) => String(x.lastTimestamp ?? x.eventTime ?? "");
      const prev = latest.get(key);
      if (!prev || at(e) >= at(prev)) latest.set(key, e);
    }
    for (const [key, e] of latest) {
      const t = TROUBLES.find((x) => x.test.test(e.message ?? ""));
      if (t) hit(t, e.message ?? "", key);
    }
    // Retries still under way leave no Event yet: MIC's log says "Azure is busy (429 ...)" while assignments wait.
    const logs = waiting.some((a) => a.status?.status === "Created" || !a.status?.status) ? await micLogLines(ctx, runtime.mic) : [];
    const throttled = TROUBLES.find((t) => t.id === "throttled")!;
    // Only the attempt under way counts: a 429 after the last "updating user-assigned identities" line of that MIC.
    for (const pod of new Set(logs.map((l) => l.pod))) {
      const lines = logs.filter((l) => l.pod === pod).map((l) => l.line);
      const lastUpdate = lines.map((l) => /updating user-assigned identities on /.test(l)).lastIndexOf(true);
      const busy = lines.slice(lastUpdate + 1).reverse().find((l) => /Azure is busy \(429|TooManyRequests|client throttled/i.test(l));
      if (busy) hit(throttled, busy);
    }
    const findings: Finding[] = [];
    for (const t of TROUBLES) {
      const h = hits.get(t);
      if (!h) continue;
      const said = [...h.texts][0];
      const waitingFor = [...h.aais];
      findings.push(
        finding(t.severity, `${t.explain}. MIC says: ${said}${waitingFor.length ? ` (AzureAssignedIdentity ${waitingFor.join(", ")} not Assigned)` : ""}`, {
          errors: [...t.errors, ...[...h.texts].slice(0, 3)],
          fix: await t.fix(ctx, [...h.texts].join("\n")),
          objects: [...waitingFor.map((k) => `AzureAssignedIdentity ${k}`), ...[...h.texts].flatMap((x) => [...x.matchAll(IDENTITY_ID)].map((m) => m[0]))].filter((v, i, all) => all.indexOf(v) === i),
        }),
      );
    }
    return { observed: { notAssigned: waiting.map((a) => `${aaiKey(a.metadata)} (${a.status?.status ?? "no status"})`), micEvents: latest.size, micLogLines: logs.length }, findings };
  },
};
