import { LEGACY_FIELDS, type LegacyKind } from "../../../aadpodidentity/spec.js";
import { shellWord } from "./fixes.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { identityAddFix } from "./azure-identities.js";
import type { DoctorContext } from "../context.js";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

type Obj = { kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: Record<string, unknown> };

/** Old-cased spec fields of an object, from its live spec and from what `kubectl apply` last sent (the API server may have pruned them). */
function oldFields(o: Obj): { field: string; v1: string; value: unknown; live: boolean }[] {
  const table: Record<string, string> = LEGACY_FIELDS[o.kind as LegacyKind] ?? {};
  let applied: Record<string, unknown> = {};
  try {
    applied = (JSON.parse(o.metadata.annotations?.[LAST_APPLIED] ?? "{}") as { spec?: Record<string, unknown> }).spec ?? {};
  } catch {
    // not JSON: ignore
  }
  const live = o.spec ?? {};
  return Object.entries(table)
    .filter(([old]) => old in live || old in applied)
    .map(([old, v1]) => ({ field: old, v1, value: old in live ? live[old] : applied[old], live: old in live }));
}

async function fixFor(ctx: DoctorContext, o: Obj, fields: ReturnType<typeof oldFields>): Promise<string> {
  const ns = o.metadata.namespace ?? "default";
  const value = (v1: string) => {
    const f = fields.find((x) => x.v1 === v1);
    return f ? f.value : o.spec?.[v1];
  };
  if (o.kind === "AzureIdentity") {
    const resourceId = value("resourceID");
    return identityAddFix(ctx, o, typeof resourceId === "string" && resourceId ? resourceId : undefined);
  }
  if (o.kind === "AzureIdentityBinding") return `podid bind --selector ${shellWord(String(value("selector") ?? "<selector>"))} --identity ${shellWord(String(value("azureIdentity") ?? "<identity>"))} --namespace ${ns} --name ${o.metadata.name}`;
  const labels = value("podLabels");
  const pairs = labels && typeof labels === "object" ? Object.entries(labels).map(([k, v]) => `${k}=${String(v)}`).join(",") : "<key=value>";
  return `podid exception add --name ${o.metadata.name} --namespace ${ns} --pod-labels ${shellWord(pairs)}`;
}

/**
 * 19. Fields spelled as before aad-pod-identity 1.6 (`ResourceID`, `ClientID`, `AzureIdentity`, `Selector`, ...; the
 * one table in aadpodidentity/spec.ts). A CRD with a schema (podid's, upstream's since 1.6) prunes them: the object
 * then lacks the field that matters (fail). Where the API server kept them (CRDs made before 1.6), MIC and NMI read
 * them as upstream does, but the next CRD upgrade drops them (warn).
 */
export const fieldCasingCheck: Check = {
  id: "field-casing",
  number: 19,
  title: "no aadpodidentity object uses the old field casing v1 ignores",
  async run(ctx) {
    const [identities, bindings] = await Promise.all([ctx.identities(), ctx.bindings()]);
    const exceptions = (await ctx.exceptions().catch(() => [])).filter((e) => !ctx.scope.namespace || e.metadata.namespace === ctx.scope.namespace);
    const findings: Finding[] = [];
    const observed: Record<string, string[]> = {};
    for (const o of [...identities, ...bindings, ...exceptions] as unknown as Obj[]) {
      const fields = oldFields(o);
      if (!fields.length) continue;
      const ref = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
      observed[ref] = fields.map((f) => f.field);
      const unset = fields.filter((f) => o.spec?.[f.v1] === undefined || o.spec?.[f.v1] === "");
      const pruned = unset.filter((f) => !f.live);
      const kept = unset.filter((f) => f.live);
      const list = fields.map((f) => `${f.field} (v1: ${f.v1})`).join(", ");
      if (pruned.length) {
        findings.push(
          finding("fail", `${ref} spells ${list} the pre-1.6 way; v1 ignores ${pruned.length === 1 ? "it" : "them"}, so ${pruned.map((f) => f.v1).join(", ")} ${pruned.length === 1 ? "is" : "are"} unset`, {
            errors: pruned.map((f) => `unknown field "spec.${f.field}"`),
            fix: await fixFor(ctx, o, fields),
            objects: [ref],
          }),
        );
      } else if (kept.length) {
        findings.push(
          finding("warn", `${ref} spells ${kept.map((f) => f.field).join(", ")} the pre-1.6 way and has no ${kept.map((f) => f.v1).join(", ")}: MIC and NMI read the old spelling (as upstream does), but installing or upgrading to CRDs with a schema prunes it and leaves the field unset`, {
            fix: await fixFor(ctx, o, fields),
            objects: [ref],
          }),
        );
      } else if (fields.some((f) => f.live)) {
        findings.push(finding("warn", `${ref} still carries old-cased ${fields.filter((f) => f.live).map((f) => f.field).join(", ")} beside the v1 fields; they are ignored and can disagree`, { fix: `kubectl edit ${o.kind.toLowerCase()} ${o.metadata.name} -n ${o.metadata.namespace}   # remove the old-cased fields`, objects: [ref] }));
      }
    }
    return { observed, findings };
  },
};
