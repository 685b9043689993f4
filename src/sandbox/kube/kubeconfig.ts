import YAML from "yaml";
import { writeFileAtomic, SECRET_FILE_MODE } from "../../util/files.js";

/** The kubeconfig `az aks get-credentials --admin` would write: one cluster, one admin token user, one context. */
export function writeKubeconfig(path: string, o: { clusterName: string; server: string; caCertPem: string; token: string }): void {
  const user = `clusterAdmin_${o.clusterName}`;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: o.clusterName, cluster: { server: o.server, "certificate-authority-data": Buffer.from(o.caCertPem).toString("base64") } }],
    users: [{ name: user, user: { token: o.token } }],
    contexts: [{ name: o.clusterName, context: { cluster: o.clusterName, user, namespace: "default" } }],
    "current-context": o.clusterName,
    preferences: {},
  };
  writeFileAtomic(path, YAML.stringify(config), SECRET_FILE_MODE);
}
