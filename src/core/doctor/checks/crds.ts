import { AAD_POD_IDENTITY_GROUP, RESOURCE_PLURALS } from "../../../aadpodidentity/types.js";
import type { KubernetesObject } from "@kubernetes/client-node";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { installFix } from "./fixes.js";

type Crd = KubernetesObject & {
  spec?: { group?: string; scope?: string; names?: { kind?: string }; versions?: { name: string; served?: boolean; storage?: boolean }[] };
};

const AAD_POD_IDENTITY_KINDS = Object.entries(RESOURCE_PLURALS).map(([kind, plural]) => ({ kind, plural }));

/** 2. The four aadpodidentity.k8s.io CRDs exist and serve v1 (the version MIC, NMI and podid use). */
export const crdsCheck: Check = {
  id: "crds",
  number: 2,
  title: "aadpodidentity.k8s.io CRDs present, v1 served",
  async run(ctx) {
    const findings: Finding[] = [];
    const observed: Record<string, unknown> = {};
    const fix = await installFix(ctx);
    await Promise.all(
      AAD_POD_IDENTITY_KINDS.map(async ({ kind, plural }) => {
        const name = `${plural}.${AAD_POD_IDENTITY_GROUP}`;
        const crd = await ctx.read<Crd>({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name } });
        if (!crd) {
          observed[name] = null;
          findings.push(finding("fail", `CustomResourceDefinition ${name} is missing: ${kind} objects cannot exist, so pods get no identity`, { errors: [`the server doesn't have a resource type "${plural}"`, `no matches for kind "${kind}" in version "${AAD_POD_IDENTITY_GROUP}/v1"`], fix, objects: [`CustomResourceDefinition ${name}`] }));
          return;
        }
        const versions = crd.spec?.versions ?? [];
        observed[name] = versions.map((v) => ({ name: v.name, served: Boolean(v.served), storage: Boolean(v.storage) }));
        const v1 = versions.find((v) => v.name === "v1");
        if (!v1?.served) {
          findings.push(finding("fail", `CustomResourceDefinition ${name} does not serve v1 (versions: ${versions.map((v) => `${v.name}${v.served ? "" : " (not served)"}`).join(", ") || "none"}); MIC, NMI and podid use ${AAD_POD_IDENTITY_GROUP}/v1`, { errors: [`no matches for kind "${kind}" in version "${AAD_POD_IDENTITY_GROUP}/v1"`], fix, objects: [`CustomResourceDefinition ${name}`] }));
        } else if (crd.spec?.names?.kind !== kind || crd.spec?.scope !== "Namespaced") {
          findings.push(finding("fail", `CustomResourceDefinition ${name} defines kind ${crd.spec?.names?.kind} (${crd.spec?.scope}); expected ${kind} (Namespaced)`, { fix, objects: [`CustomResourceDefinition ${name}`] }));
        } else if (!v1.storage) {
          findings.push(finding("warn", `CustomResourceDefinition ${name} serves v1 but stores another version (${versions.find((v) => v.storage)?.name ?? "none"}); objects written by older releases may keep old field names`, { fix, objects: [`CustomResourceDefinition ${name}`] }));
        }
      }),
    );
    return { observed, findings };
  },
};
