import type { KubernetesObject } from "@kubernetes/client-node";
import { fieldSpellings, SPEC_FIELDS, type SpelledKind } from "../aadpodidentity/spec.js";
import { AAD_POD_IDENTITY_API_VERSION, AAD_POD_IDENTITY_GROUP, RESOURCE_PLURALS } from "../aadpodidentity/types.js";
import type { KubeSession } from "../kube/session.js";
import { InstallCode, InstallError } from "../errors/index.js";

/**
 * CRDs made before aad-pod-identity 1.6 have no schema (or one that keeps unknown fields), so the API server kept
 * objects' fields in any spelling. podid's CRDs have a schema: once they replace those, kube-apiserver prunes what
 * the schema does not name from every read at once (its storage codec decodes with the new schema) and from
 * storage at the object's next write — so the pre-1.6 spellings (`ClientID`, `ResourceID`, `Selector`, ...) are
 * gone for MIC and NMI.
 */

export type SchemaOpenCrd = KubernetesObject & {
  spec?: { versions?: { name: string; schema?: { openAPIV3Schema?: OpenSchema } }[] };
};
type OpenSchema = { "x-kubernetes-preserve-unknown-fields"?: boolean; x_kubernetes_preserve_unknown_fields?: boolean; properties?: Record<string, OpenSchema> };

/** The extension as the API server spells it, or as @kubernetes/client-node's typed model hands it back. */
const preservesUnknown = (s: OpenSchema | undefined): boolean => s?.["x-kubernetes-preserve-unknown-fields"] === true || s?.x_kubernetes_preserve_unknown_fields === true;

/** Whether a CRD's v1 keeps fields it does not name in an object's spec: no schema, or unknown fields preserved at the root or at spec. */
export function keepsUnknownSpecFields(crd: SchemaOpenCrd): boolean {
  const schema = crd.spec?.versions?.find((v) => v.name === "v1")?.schema?.openAPIV3Schema;
  if (!schema) return true;
  const spec = schema.properties?.spec;
  return preservesUnknown(schema) || (spec !== undefined && (preservesUnknown(spec) || spec.properties === undefined));
}

export interface LegacySpelledObject {
  ref: string;
  /** Each old-spelled field with its value (the values are names and ids, never secrets: a password is a Secret reference). */
  fields: { field: string; value: unknown }[];
}

/** The aadpodidentity objects spelled the pre-1.6 way in their spec, read while the CRDs still keep those fields. */
export async function legacySpelledObjects(kube: KubeSession): Promise<LegacySpelledObject[]> {
  const found: LegacySpelledObject[] = [];
  for (const kind of Object.keys(SPEC_FIELDS) as SpelledKind[]) {
    const objects = await kube.list<KubernetesObject & { spec?: Record<string, unknown> }>(AAD_POD_IDENTITY_API_VERSION, kind);
    for (const o of objects) {
      const fields = fieldSpellings(kind, o.spec).flatMap((f) => f.keys.filter((k) => k !== f.v1).map((k) => ({ field: k, value: o.spec![k] })));
      if (fields.length) found.push({ ref: `${kind} ${o.metadata?.namespace}/${o.metadata?.name}`, fields });
    }
  }
  return found;
}

/**
 * Installing podid's CRDs over schema-less ones while objects still use the pre-1.6 spellings: refused before it
 * happens (afterwards reads no longer show those fields, so MIC and NMI no longer see them and pods lose their
 * identity), with what to re-apply. A dry run is told instead.
 */
export async function refuseLegacyFieldPruning(kube: KubeSession, dryRun: boolean): Promise<string | undefined> {
  const open: string[] = [];
  for (const plural of Object.values(RESOURCE_PLURALS)) {
    const name = `${plural}.${AAD_POD_IDENTITY_GROUP}`;
    const crd = await kube.read<SchemaOpenCrd>({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name } });
    if (crd && keepsUnknownSpecFields(crd)) open.push(name);
  }
  if (!open.length) return undefined;
  const objects = await legacySpelledObjects(kube);
  if (!objects.length) return undefined;
  const listed = objects.map((o) => `${o.ref} (${o.fields.map((f) => `${f.field}=${JSON.stringify(f.value)}`).join(", ")})`).join("; ");
  const problem = new InstallError(
    InstallCode.LegacyFieldsWouldBePruned,
    `the CustomResourceDefinitions ${open.join(", ")} have no schema (made before aad-pod-identity 1.6) and podid's have one: installing them makes the API server drop the fields the schema does not name from every read, so these objects would lose their pre-1.6 fields and MIC and NMI would no longer see them: ${listed}`,
    { remedy: "Re-apply each with the v1 field names (clientID, resourceID, azureIdentity, selector, podLabels, ...), e.g. with podid identity add / podid bind / podid exception add and the values above, then run podid install again (podid doctor's field-casing check lists them)." },
  );
  if (!dryRun) throw problem;
  return `install would stop here: ${problem.message}. ${problem.remedy}`;
}
