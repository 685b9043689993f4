import { INSTALL_NAMESPACE, MicFlag, NmiFlag, type Component } from "../aadpodidentity/contract/names.js";
import { PACKAGE_VERSION } from "../util/package-info.js";
import { loadTemplates } from "./templates.js";

/** Our runtime image; `--image` / `--image-tag` replace it (e.g. a copy in the cluster's own registry). */
export const DEFAULT_RUNTIME_IMAGE = "ghcr.io/podid/podid-runtime";
/** The demo workload's image (the Dockerfile's `demo` target): its entrypoint is `podid runtime demo`. */
export const DEMO_IMAGE = "ghcr.io/podid/podid-demo";
/** The last upstream aad-pod-identity images, for `--runtime upstream`. */
export const UPSTREAM_IMAGES = { mic: "mcr.microsoft.com/oss/azure/aad-pod-identity/mic:v1.8.17", nmi: "mcr.microsoft.com/oss/azure/aad-pod-identity/nmi:v1.8.17" };

export interface InstallValues {
  namespace: string;
  image: string;
  imageTag: string;
  runtime: "podid" | "upstream";
  /** Let NMI run on kubenet clusters (CVE-2021-1677: drop NET_RAW from workloads). */
  allowKubenet: boolean;
}

export const INSTALL_DEFAULTS: InstallValues = { namespace: INSTALL_NAMESPACE, image: DEFAULT_RUNTIME_IMAGE, imageTag: PACKAGE_VERSION, runtime: "podid", allowKubenet: false };

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };
type Container = { name: string; image: string; args?: string[] };

const FILES = ["install/crds.yaml", "install/rbac.yaml", "install/mic.yaml", "install/nmi.yaml", "install/exceptions.yaml"];

function containersOf(m: Manifest): Container[] {
  const spec = m.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
  return spec?.template?.spec?.containers ?? [];
}

/**
 * Everything `podid install` applies, in order: CRDs, RBAC, MIC, NMI, exceptions — as typed objects with the
 * values set on the parsed data (never in YAML text). The same list is what `--dry-run -o yaml` prints.
 */
export function renderInstall(values: InstallValues): Manifest[] {
  const manifests = FILES.flatMap((f) => loadTemplates<Manifest>(f));
  for (const m of manifests) {
    if (m.metadata.namespace !== undefined) m.metadata.namespace = values.namespace;
    for (const subject of (m.subjects as { namespace?: string }[] | undefined) ?? []) subject.namespace = values.namespace;
    for (const c of containersOf(m)) {
      const component = c.name as Component;
      if (values.runtime === "upstream") {
        // The upstream images have their own entrypoints: drop podid's "runtime <component>" prefix.
        c.image = UPSTREAM_IMAGES[component];
        c.args = (c.args ?? []).slice(2).filter((a) => !a.startsWith(`--${NmiFlag.hostIp}`) && !a.startsWith(`--${MicFlag.leaderElectionNamespace}`));
      } else {
        c.image = `${values.image}:${values.imageTag}`;
      }
      if (component === "nmi" && values.allowKubenet) c.args = [...(c.args ?? []), `--${NmiFlag.allowKubenet}=true`];
    }
  }
  return manifests;
}
