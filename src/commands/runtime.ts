import type { Command } from "commander";
import { configureMic } from "./runtime-mic.js";
import { configureNmi } from "./runtime-nmi.js";

/**
 * `podid runtime mic|nmi`: the in-cluster entry points the runtime image runs. Each component's options live
 * beside it (runtime-mic.ts, runtime-nmi.ts); their actions load the component's code only when it starts.
 */
export function configureRuntime(runtime: Command): void {
  configureMic(runtime.command("mic").description("Managed Identity Controller: assigns identities to pods and attaches them to the nodes' scale sets."));
  configureNmi(runtime.command("nmi").description("Node Managed Identity: answers pods' IMDS token requests for their own identities only."));
}
