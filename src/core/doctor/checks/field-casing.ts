import { fieldSpelling, fieldSpellings, type SpelledKind } from "../../../aadpodidentity/spec.js";
import { shellWord } from "../../../util/shell.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { identityAddFix } from "./azure-identities.js";
import type { DoctorContext } from "../context.js";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

type Obj = { kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: Record<string, unknown> };

/** A field spelled the pre-1.6 way (any spelling but v1's), in the live spec or only in what `kubectl apply` last sent. */
interface OldField {
  field: string;
  v1: string;
  value: unknown;
  /** In the live spec (else the API server pruned it). */
  live: boolean;
  /** Its value is the one MIC and NMI read (spec.ts's rule). */
  read: boolean;
}

/** Old-spelled spec fields of an object, from its live spec and from what `kubectl apply` last sent (the API server may have pruned them). */
function oldFields(o: Obj): OldField[] {
  let applied: Record<string, unknown> = {};
  try {
    applied = (JSON.parse(o.metadata.annotations?.[LAST_APPLIED] ?? "{}") as { spec?: Record<string, unknown> }).spec ?? {};
  } catch {
    // not JSON: ignore
  }
  const live = o.spec ?? {};
  const kind = o.kind as SpelledKind;
  const found: OldField[] = [];
  for (const f of fieldSpellings(kind, live)) {
    for (const key of f.keys.filter((k) => k !== f.v1)) found.push({ field: key, v1: f.v1, value: live[key], live: true, read: f.read === key });
  }
  for (const f of fieldSpellings(kind, applied)) {
    for (const key of f.keys.filter((k) => k !== f.v1 && !(k in live))) found.push({ field: key, v1: f.v1, value: applied[key], live: false, read: false });
  }
  return found;
}

async function fixFor(ctx: DoctorContext, o: Obj, fields: ReturnType<typeof oldFields>): Promise<string> {
  const ns = o.metadata.namespace ?? "default";
  // What MIC and NMI read, else what the pruned old spelling said.
  const value = (v1: string) => {
    const read = fieldSpelling(o.spec, v1).read;
    return read !== undefined ? o.spec![read] : fields.find((x) => x.v1 === v1)?.value;
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
 * 19. Fields spelled as before aad-pod-identity 1.6 (`ResourceID`, `ClientID`, `AzureIdentity`, `Selector`, ...). A
 * CRD with a schema (podid's, upstream's since 1.6) prunes them: the object then lacks the field that matters
 * (fail). Where the API server kept them (CRDs made before 1.6), MIC and NMI read them as upstream does, but the next
 * CRD upgrade drops them (warn); beside a v1 spelling they are not read at all (warn). Which spelling is read is
 * aadpodidentity/spec.ts's answer (fieldSpelling), never this check's.
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
      const list = fields.map((f) => `${f.field} (v1: ${f.v1})`).join(", ");
      const unread = (f: OldField) => fieldSpelling(o.spec, f.v1).read === undefined;
      const pruned = fields.filter((f) => !f.live && unread(f));
      const read = fields.filter((f) => f.read);
      const ignored = fields.filter((f) => f.live && !f.read);
      if (pruned.length) {
        findings.push(
          finding("fail", `${ref} spells ${list} the pre-1.6 way; v1 ignores ${pruned.length === 1 ? "it" : "them"}, so ${pruned.map((f) => f.v1).join(", ")} ${pruned.length === 1 ? "is" : "are"} unset`, {
            errors: pruned.map((f) => `unknown field "spec.${f.field}"`),
            fix: await fixFor(ctx, o, fields),
            objects: [ref],
          }),
        );
      } else if (read.length) {
        findings.push(
          finding("warn", `${ref} spells ${read.map((f) => f.field).join(", ")} the pre-1.6 way and has no ${read.map((f) => f.v1).join(", ")}: MIC and NMI read the old spelling (as upstream does), but installing or upgrading to CRDs with a schema prunes it and leaves the field unset`, {
            fix: await fixFor(ctx, o, fields),
            objects: [ref],
          }),
        );
      }
      if (!pruned.length && ignored.length) {
        const beside = ignored
          .map((f) => {
            const read = fieldSpelling(o.spec, f.v1).read;
            return `${f.field} (${JSON.stringify(f.value)}; MIC and NMI read ${read ?? f.v1}: ${read === undefined ? "nothing" : JSON.stringify(o.spec![read])})`;
          })
          .join(", ");
        findings.push(finding("warn", `${ref} still carries old-cased ${beside} beside the v1 fields; the old ones are ignored`, { fix: `kubectl edit ${o.kind.toLowerCase()} ${o.metadata.name} -n ${o.metadata.namespace}   # remove the old-cased fields`, objects: [ref] }));
      }
    }
    return { observed, findings };
  },
};
