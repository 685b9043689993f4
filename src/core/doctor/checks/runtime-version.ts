import { PACKAGE_VERSION } from "../../../util/package-info.js";
import { DEFAULT_RUNTIME_IMAGE, UPSTREAM_IMAGES } from "../../../render/install.js";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import type { Workload } from "../context.js";
import { installFix } from "./fixes.js";
import { BROKEN_WAITING, containerTrouble, podName, workloadRef } from "./runtime-pods.js";
import { isActivePod } from "../../../aadpodidentity/pods.js";

/** Restarts at or above this (on a running container) are worth a look. */
const RESTARTS_WARN = 3;

function splitImage(image: string): { repository: string; tag?: string } {
  const noDigest = image.split("@")[0];
  const colon = noDigest.lastIndexOf(":");
  return colon > noDigest.lastIndexOf("/") ? { repository: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) } : { repository: noDigest };
}

const upstreamTag = splitImage(UPSTREAM_IMAGES.mic).tag!;

/**
 * 15. Version skew between this podid and the runtime installed (the MIC/NMI image tags), and the runtime's
 * image health: pods that cannot pull or run their image, crash-looping or restarting.
 */
export const runtimeVersionCheck: Check = {
  id: "runtime-version",
  number: 15,
  title: "runtime version matches this podid; MIC/NMI images pull and run",
  async run(ctx) {
    const [{ mic, nmi }, pods] = await Promise.all([ctx.runtimeWorkloads(), ctx.runtimePods()]);
    const workloads: [string, Workload][] = [...mic.map((w) => ["Deployment", w] as [string, Workload]), ...nmi.map((w) => ["DaemonSet", w] as [string, Workload])];
    const findings: Finding[] = [];
    const images: Record<string, string> = {};
    for (const [kind, w] of workloads) for (const c of w.spec?.template?.spec?.containers ?? []) images[`${workloadRef(kind, w)} ${c.name}`] = c.image ?? "";
    const observed: Record<string, unknown> = { podid: PACKAGE_VERSION, images };
    if (!workloads.length) return { observed, findings };

    // Skew: podid's runtime image at another tag than this podid's version (or upstream's at another than podid installs).
    const skewed: { ref: string; image: string; tag: string; want: string; upstream: boolean }[] = [];
    for (const [ref, image] of Object.entries(images)) {
      const { repository, tag } = splitImage(image);
      const name = repository.split("/").pop() ?? "";
      const upstream = /aad-pod-identity\/(mic|nmi)$/.test(repository);
      if (name === DEFAULT_RUNTIME_IMAGE.split("/").pop() && tag !== PACKAGE_VERSION) skewed.push({ ref, image, tag: tag ?? "(none: latest)", want: PACKAGE_VERSION, upstream: false });
      else if (upstream && tag !== upstreamTag) skewed.push({ ref, image, tag: tag ?? "(none: latest)", want: upstreamTag, upstream: true });
    }
    if (skewed.length) {
      const tags = [...new Set(skewed.map((s) => s.tag))];
      const upstream = skewed.some((s) => s.upstream);
      findings.push(
        finding("warn", `version skew: this podid is ${PACKAGE_VERSION} but the installed runtime is ${tags.join(", ")} (${skewed.map((s) => `${s.ref}: ${s.image}`).join("; ")}); doctor and the runtime may disagree about fields, flags and behaviour`, {
          errors: tags.map((t) => `image tag ${t}`),
          fix: `${await installFix(ctx, ...(upstream ? ["--runtime", "upstream"] : []))}   # installs runtime ${upstream ? upstreamTag : PACKAGE_VERSION}; or use the podid that matches the cluster`,
          objects: skewed.map((s) => s.ref),
        }),
      );
    }

    // Image health: containers waiting on their image or crash-looping, and restart counts.
    const broken: string[] = [];
    const brokenPods: string[] = [];
    const reasons = new Set<string>();
    const restarting: string[] = [];
    const restartingPods: string[] = [];
    for (const p of [...pods.mic, ...pods.nmi].filter(isActivePod)) {
      for (const c of containerTrouble(p)) {
        if (c.reason && BROKEN_WAITING.has(c.reason)) {
          reasons.add(c.reason);
          broken.push(`${podName(p)} (${c.image}): ${c.reason}${c.message ? `: ${c.message}` : ""}`);
          brokenPods.push(`Pod ${podName(p)}`);
        } else if (c.restarts >= RESTARTS_WARN) {
          restarting.push(`${podName(p)} restarted ${c.restarts} times${c.lastExit ? `, last ${c.lastExit}` : ""}`);
          restartingPods.push(`Pod ${podName(p)}`);
        }
      }
    }
    observed.unhealthy = broken;
    observed.restarting = restarting;
    if (broken.length) {
      const pull = [...reasons].some((r) => r !== "CrashLoopBackOff");
      const first = brokenPods[0].replace(/^Pod /, "").split("/");
      findings.push(
        finding("fail", `${broken.length} MIC/NMI container(s) cannot run: ${broken.join("; ")}`, {
          errors: [...reasons, ...(pull ? ["Failed to pull image", "manifest unknown"] : ["Back-off restarting failed container"])],
          fix: pull
            ? `${await installFix(ctx)}   # re-applies ${DEFAULT_RUNTIME_IMAGE}:${PACKAGE_VERSION}; behind a private registry add --image <registry>/podid-runtime`
            : `kubectl logs -n ${first[0]} ${first[1]} --previous   # then: ${await installFix(ctx)}`,
          objects: [...new Set(brokenPods)],
        }),
      );
    }
    if (restarting.length) {
      const first = restartingPods[0].replace(/^Pod /, "").split("/");
      findings.push(finding("warn", `MIC/NMI containers restart: ${restarting.join("; ")}`, { errors: ["Back-off restarting failed container"], fix: `kubectl logs -n ${first[0]} ${first[1]} --previous`, objects: [...new Set(restartingPods)] }));
    }
    return { observed, findings };
  },
};
