/**
 * The images the sandbox's nodes can run: podid's own, as local processes of this package's CLI. Matched by the
 * repository's last path segment, so a copy in another registry (`podid install --image myacr.azurecr.io/podid-runtime`)
 * runs too. Anything else stays Pending: there is no container engine here.
 */

/** What each image's ENTRYPOINT runs after `podid` (the Dockerfile's stages). */
const ENTRYPOINTS: Record<string, string[]> = {
  "podid-runtime": [],
  "podid-demo": ["runtime", "demo"],
};

/** The user podid's images run as (the Dockerfile's USER) when the pod does not say runAsUser. */
export const IMAGE_USER = 65532;

/** The executable names a container `command` may use for the CLI inside podid's images. */
const CLI_NAMES = new Set(["podid", "/app/bin/podid.js", "bin/podid.js"]);

export function repositoryOf(image: string): string {
  const noDigest = image.split("@")[0];
  const lastSlash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
}

export type Launch = { ok: true; cliArgs: string[] } | { ok: false; reason: string; message: string };

/**
 * The CLI arguments a container runs with, as a container runtime combines the image's ENTRYPOINT/CMD with the
 * container's command/args; or why it cannot run here.
 */
export function launchOf(image: string, command: string[] | undefined, args: string[] | undefined): Launch {
  const name = repositoryOf(image).split("/").pop() ?? "";
  const entrypoint = ENTRYPOINTS[name];
  if (!entrypoint) {
    return {
      ok: false,
      reason: "ImageNotRunnable",
      message: `the sandbox's nodes run only podid's images (…/podid-runtime, …/podid-demo) as local processes; ${image} has no container engine to run it`,
    };
  }
  if (!command?.length) return { ok: true, cliArgs: [...entrypoint, ...(args ?? [])] };
  let rest = command;
  if (rest[0] === "node") rest = rest.slice(1);
  if (!CLI_NAMES.has(rest[0] ?? "")) {
    return { ok: false, reason: "RunContainerError", message: `the sandbox runs podid's CLI only; command ${JSON.stringify(command)} is not it (omit command, or start it with "podid")` };
  }
  return { ok: true, cliArgs: [...rest.slice(1), ...(args ?? [])] };
}

/**
 * Images that only set up the pod's network, whose effect the sandbox's nodes apply themselves (as they stand in
 * for NMI's DNAT): azure-workload-identity's proxy-init, whose iptables rules send the pod's metadata traffic
 * (169.254.169.254:80) to the proxy sidecar's port, except the proxy's own (its uid).
 */
export function isMetadataProxyInit(image: string): boolean {
  return /(^|\/)workload-identity\/proxy-init$/.test(repositoryOf(image));
}
