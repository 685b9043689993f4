import { VersionApi } from "@kubernetes/client-node";
import { fromKubeError } from "./errors.js";
import type { KubeSession } from "./session.js";

/** The API server's version (`GET /version`): gitVersion, e.g. v1.29.2. */
export async function serverVersion(kube: KubeSession): Promise<{ gitVersion: string; major: string; minor: string }> {
  try {
    const v = await kube.config.makeApiClient(VersionApi).getCode();
    return { gitVersion: v.gitVersion, major: v.major, minor: v.minor };
  } catch (err) {
    throw fromKubeError(err, "reading the server version", kube.server);
  }
}
