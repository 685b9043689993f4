import { AZURE_BUSY_SEARCH, ScaleSetTrouble } from "../../../aadpodidentity/contract/mic-reports.js";
import { identitySpec } from "../../../aadpodidentity/spec.js";
import type { AzureAssignedIdentity } from "../../../aadpodidentity/types.js";
import { finding, type Finding, type Severity } from "../model.js";
import type { Check } from "../runner.js";
import type { DoctorContext } from "../context.js";
import { safeParse } from "./azure-identities.js";
import { installFix } from "./fixes.js";
import { latestMicWarnings, troubleOf } from "./mic-events.js";
import type { KubeEvent } from "./runtime-pods.js";

/** The troubles MIC reports on scale-set reads and writes that this check explains, each with what it means and how it is fixed. */
interface Trouble {
  reason: ScaleSetTrouble;
  severity: Severity;
  errors: string[];
  explain: string;
  fix: (ctx: DoctorContext, waiting: readonly AzureAssignedIdentity[]) => Promise<string>;
}

const micEvents = (aai: string) => `kubectl describe azureassignedidentity ${aai.split("/")[1]} -n ${aai.split("/")[0]}`;

const TROUBLES: Trouble[] = [
  {
    reason: ScaleSetTrouble.LinkedAuthorization,
    severity: "fail",
    errors: ["LinkedAuthorizationFailed", "does not have permission to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action'"],
    explain: "LinkedAuthorizationFailed: ARM refused to attach the identity: the kubelet identity may write the scale set but may not assign the identity (Managed Identity Operator on the identity or its resource group is missing)",
    fix: async (ctx, waiting) => {
      // The identities' resource groups, from the AzureIdentities the assignments carry.
      const groups = [...new Set(waiting.map((a) => (a.spec.azureIdentityRef?.spec ? safeParse(identitySpec(a.spec.azureIdentityRef).resourceID)?.resourceGroup : undefined)).filter((g): g is string => Boolean(g)))];
      return `${await installFix(ctx, ...groups.flatMap((g) => ["--identity-resource-group", g]))}   # grants the kubelet identity Managed Identity Operator there (see check kubelet-roles)`;
    },
  },
  {
    reason: ScaleSetTrouble.Authorization,
    severity: "fail",
    errors: ["AuthorizationFailed", "Microsoft.Compute/virtualMachineScaleSets/write"],
    explain: "AuthorizationFailed: ARM refused the kubelet identity on the scale set itself (Virtual Machine Contributor on the node resource group is missing)",
    fix: (ctx) => installFix(ctx),
  },
  {
    reason: ScaleSetTrouble.IdentityLimit,
    severity: "fail",
    errors: ["User Assigned Identities Number", "exceed limit '150' in one request"],
    explain: "identity limit: ARM accepts at most 150 user-assigned identities in one scale-set request; upstream MIC before v1.7.0 sent them all at once and stayed wedged",
    fix: async (ctx) => `${await installFix(ctx)}   # podid's MIC sends them in chunks of 150; also check how many identities the node's pods need: kubectl get azureassignedidentities -A`,
  },
  {
    reason: ScaleSetTrouble.Throttled,
    severity: "warn",
    errors: ["429", "TooManyRequests", "The request is being throttled", "VMSSUpdate client throttled", AZURE_BUSY_SEARCH],
    explain: "429 TooManyRequests: ARM is throttling the scale-set calls: MIC waits for Retry-After and retries, and pods wait for their identity meanwhile. Usually something else writes the scale set too (a cluster upgrade, another controller), or an AzureIdentity that always fails is retried every cycle",
    fix: async (_ctx, waiting) => `${micEvents(`${waiting[0].metadata.namespace ?? "default"}/${waiting[0].metadata.name}`)}   # MIC retries on its own after Retry-After; remove what else hammers the scale set, and any AzureIdentity doctor reports as failing`,
  },
  {
    reason: ScaleSetTrouble.IdentityRefused,
    severity: "fail",
    errors: ["FailedIdentityOperation", "Identity not found"],
    explain: "FailedIdentityOperation: ARM refused an identity in the request (it does not exist, or was re-created) (see checks azure-identities and recreated-identity)",
    fix: async (_ctx, waiting) => micEvents(`${waiting[0].metadata.namespace ?? "default"}/${waiting[0].metadata.name}`),
  },
];

const aaiKey = (a: AzureAssignedIdentity) => `${a.metadata.namespace ?? "default"}/${a.metadata.name}`;

/**
 * 18. Scale-set trouble MIC reported: ARM throttling (429), the 150-identities-per-request limit, and refusals
 * (LinkedAuthorizationFailed, AuthorizationFailed, FailedIdentityOperation), from the reasons of MIC's Warning
 * Events on AzureAssignedIdentities that are still not Assigned (or still being removed): MIC records throttling
 * while it still retries, and its latest Event on each tells what holds it now. Past trouble that has cleared does
 * not count.
 */
export const scaleSetErrorsCheck: Check = {
  id: "scale-set-errors",
  number: 18,
  title: "scale-set errors MIC reported (throttling, 150-identity limit, LinkedAuthorizationFailed)",
  async run(ctx) {
    const [aais, events] = await Promise.all([ctx.assignedIdentities(), ctx.events() as Promise<KubeEvent[]>]);
    const inScope = (a: AzureAssignedIdentity) => ctx.scope.namespace === undefined || a.spec?.podNamespace === ctx.scope.namespace || a.metadata.namespace === ctx.scope.namespace;
    const waiting = aais.filter((a) => inScope(a) && (a.status?.status !== "Assigned" || a.metadata.deletionTimestamp));
    const latest = latestMicWarnings(events, waiting);
    const findings: Finding[] = [];
    for (const t of TROUBLES) {
      const hit = waiting.filter((a) => {
        const e = latest.get(aaiKey(a));
        return e !== undefined && troubleOf(e) === t.reason;
      });
      if (!hit.length) continue;
      const said = [...new Set(hit.map((a) => latest.get(aaiKey(a))!.message ?? ""))];
      findings.push(
        finding(t.severity, `${t.explain}. MIC says: ${said[0]} (AzureAssignedIdentity ${hit.map(aaiKey).join(", ")} not Assigned)`, {
          errors: [...t.errors, ...said.slice(0, 3)],
          fix: await t.fix(ctx, hit),
          objects: [...hit.map((a) => `AzureAssignedIdentity ${aaiKey(a)}`), ...new Set(hit.map((a) => (a.spec.azureIdentityRef?.spec ? identitySpec(a.spec.azureIdentityRef).resourceID : "")).filter(Boolean))],
        }),
      );
    }
    return { observed: { notAssigned: waiting.map((a) => `${aaiKey(a)} (${a.status?.status ?? "no status"})`), micEvents: Object.fromEntries([...latest].map(([k, e]) => [k, e.reason])) }, findings };
  },
};
