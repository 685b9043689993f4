import { readFileSync } from "node:fs";
import type { SandboxRuntimeInfo } from "./layout.js";

/** A variable's value, or the file it is read from when used (the client secret, so it is never printed). */
export type SandboxEnvValue = { value: string } | { file: string };

/**
 * What points Azure SDKs, kubectl and podid at the sandbox: the variables `podid sandbox env` exports and
 * `podid demo` gives the commands it runs.
 */
export function sandboxEnvVars(info: SandboxRuntimeInfo): [string, SandboxEnvValue][] {
  return [
    ["AZURE_TENANT_ID", { value: info.tenantId }],
    ["AZURE_CLIENT_ID", { value: info.clientId }],
    ["AZURE_CLIENT_SECRET", { file: info.files.clientSecret }],
    ["AZURE_AUTHORITY_HOST", { value: info.endpoints.activeDirectory }],
    ["AZURE_SUBSCRIPTION_ID", { value: info.subscriptionId }],
    ["PODID_CLOUD", { value: info.files.cloudProfile }],
    ["NODE_EXTRA_CA_CERTS", { value: info.files.caCert }],
    ["REQUESTS_CA_BUNDLE", { value: info.files.caCert }],
    ["KUBECONFIG", { value: info.files.kubeconfig }],
  ];
}

/** The same variables with their values, for a child process's environment (never to be printed). */
export function sandboxEnvironment(info: SandboxRuntimeInfo): Record<string, string> {
  return Object.fromEntries(sandboxEnvVars(info).map(([k, v]) => [k, "value" in v ? v.value : readFileSync(v.file, "utf8").replace(/\n+$/, "")]));
}
