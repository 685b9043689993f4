import type { Command } from "commander";
import { configureMic } from "./runtime-mic.js";
import { configureNmi } from "./runtime-nmi.js";
import { configureDemo } from "./runtime-demo.js";
import { configureProxy } from "./runtime-proxy.js";

/**
 * `podid runtime mic|nmi|demo|proxy`: the in-cluster entry points the runtime and demo images run. Each component's options live
 * beside it (runtime-mic.ts, runtime-nmi.ts); their actions load the component's code only when it starts.
 */
export function configureRuntime(runtime: Command): void {
  configureMic(runtime.command("mic").description("Managed Identity Controller: assigns identities to pods and attaches them to the nodes' scale sets."));
  configureNmi(runtime.command("nmi").description("Node Managed Identity: answers pods' IMDS token requests for their own identities only."));
  configureDemo(runtime.command("demo").description("The demo workload: gets a token (workload identity or the managed identity endpoint) and lists a resource group's VMs with it."));
  configureProxy(runtime.command("proxy").description("Workload identity's proxy sidecar: answers the pod's IMDS token requests by exchanging its service-account token with Entra ID."));
}
