import type { Command } from "commander";
import { action } from "../cli/action.js";
import { UsageCode, UsageError } from "../errors/index.js";
import { flagDuration } from "../cli/flags.js";
import { required } from "../cli/options.js";
import { checkGuid } from "../core/validate.js";

interface DemoFlags {
  subscriptionId?: string;
  resourceGroup?: string;
  clientId?: string;
  once?: boolean;
  interval: string;
}

/** Options of `podid runtime demo` (upstream demo's flag names); the program is in src/runtime/demo/. */
export function configureDemo(cmd: Command): void {
  cmd
    .option("--subscription-id <id>", "Subscription of the resource group (default: AZURE_SUBSCRIPTION_ID).")
    .option("--resource-group <group>", required("Resource group whose VMs and scale sets are listed; the identity needs Reader on it."))
    .option("--client-id <id>", "Client id of the user-assigned identity to ask a token for (default: the only or system-assigned one).")
    .option("--once", "Do one round and exit: 0 when the token and the ARM calls succeeded, 1 otherwise.")
    .option("--interval <duration>", "Time between rounds when not --once.", "10s")
    .addHelpText(
      "after",
      `
Examples:
  What the demo image runs in a pod labelled with a binding's selector:
    podid runtime demo --subscription-id $AZURE_SUBSCRIPTION_ID --resource-group MC_podid-sandbox_podid-aks_eastus --client-id <clientId>
  One round against a given IMDS (e.g. a sandbox node's), for a script:
    AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:40001 podid runtime demo --once --resource-group my-group`,
    )
    .action(
      action<DemoFlags>(async (flags) => {
        const subscription = flags.subscriptionId ?? process.env.AZURE_SUBSCRIPTION_ID;
        if (!subscription) throw new UsageError("no subscription given", "Pass --subscription-id <id> or set AZURE_SUBSCRIPTION_ID.", UsageCode.MissingSubscription);
        if (!flags.resourceGroup) throw new UsageError("the following arguments are required: --resource-group", "Pass the resource group whose VMs the demo lists (the identity needs Reader on it).");
        const { runDemo } = await import("../runtime/demo/main.js");
        await runDemo({
          subscriptionId: checkGuid("--subscription-id", subscription),
          resourceGroup: flags.resourceGroup,
          clientId: flags.clientId === undefined ? undefined : checkGuid("--client-id", flags.clientId),
          once: Boolean(flags.once),
          intervalMs: Math.max(1000, flagDuration("interval", flags.interval)),
        });
      }),
    );
}
