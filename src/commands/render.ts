import type { Command } from "commander";
import { action } from "../cli/action.js";
import { present } from "../cli/presented.js";
import { refuseOldNamespaceFlag, required as requiredMark } from "../cli/options.js";
import { bindingNameFor, renderAzureIdentity, renderAzureIdentityBinding, renderAzurePodIdentityException } from "../render/identity.js";
import { toYamlStream } from "../render/templates.js";
import { formatResourceId, parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { parsePodLabels } from "../core/exception.js";
import { checkAzureIdentityName, checkGuid, checkKubeName, checkLabelValue, checkNamespace } from "../core/validate.js";
import { UsageCode, UsageError } from "../errors/index.js";

function required(value: string | undefined, flag: string): string {
  if (value === undefined) throw new UsageError(`the following arguments are required: ${flag}`, `Pass ${flag} (see --help).`, UsageCode.MissingArgument);
  return value;
}

type Rendered = { kind: string; metadata: { name: string; namespace?: string } };

/** A YAML manifest stream unless another -o is asked for: render is for review and GitOps. */
function output(objects: Rendered[]) {
  return present(objects, {
    text: (o) => toYamlStream(o),
    yaml: (o) => toYamlStream(o),
    table: (o) => o.map((x) => ({ kind: x.kind, namespace: x.metadata.namespace ?? "", name: x.metadata.name })),
  });
}

export function configureRender(render: Command): void {

  render
    .command("identity")
    .description("An AzureIdentity for an existing user-assigned identity.")
    .option("-n, --name <name>", requiredMark("Name of the AzureIdentity."))
    .option("--namespace <namespace>", "Namespace.", "default")
    .option("--resource-id <id>", requiredMark("Resource id of the user-assigned identity."))
    .option("--client-id <guid>", requiredMark("Client id of the user-assigned identity."))
    .option("--namespaced", "Match only pods and bindings in its own namespace.")
    .addHelpText("after", "\nExample:\n  podid render identity -n my-app-id --namespace team-a --resource-id $ID --client-id $CLIENT_ID > identity.yaml")
    .action(
      action<{ name?: string; namespace: string; resourceId?: string; clientId?: string; namespaced?: boolean }>(async (o) => {
        const name = checkAzureIdentityName(checkKubeName("identity name", required(o.name, "-n/--name")));
        const id = formatResourceId(parseResourceId(required(o.resourceId, "--resource-id"), USER_ASSIGNED_IDENTITY_TYPE));
        const object = renderAzureIdentity({ name, namespace: checkNamespace(o.namespace), resourceId: id, clientId: checkGuid("--client-id", required(o.clientId, "--client-id")), namespaced: o.namespaced });
        return output([object]);
      }),
    );

  const binding = render
    .command("binding")
    .description("An AzureIdentityBinding.")
    .option("--identity <name>", requiredMark("Name of the AzureIdentity."))
    .option("--selector <selector>", requiredMark("Value of the pods' aadpodidbinding label."))
    .option("-n, --name <binding>", "Name of the binding (default: <identity>-binding).")
    .option("--namespace <namespace>", "Namespace.", "default");
  refuseOldNamespaceFlag(binding, "the binding's name")
    .addHelpText("after", "\nExample:\n  podid render binding --identity my-app-id --selector my-app --namespace team-a > binding.yaml")
    .action(
      action<{ identity?: string; selector?: string; name?: string; namespace: string }>(async (o) => {
        const identity = checkKubeName("--identity", required(o.identity, "--identity"));
        const object = renderAzureIdentityBinding({
          name: checkKubeName("-n/--name", o.name ?? bindingNameFor(identity)),
          namespace: checkNamespace(o.namespace),
          identityName: identity,
          selector: checkLabelValue("--selector", required(o.selector, "--selector")),
        });
        return output([object]);
      }),
    );

  const exception = render
    .command("exception")
    .description("An AzurePodIdentityException.")
    .option("-n, --name <name>", requiredMark("Name of the exception."))
    .option("--namespace <namespace>", "Namespace.", "default")
    .option("--pod-labels <k=v[,k=v]>", requiredMark("Pod labels that exempt a pod."));
  refuseOldNamespaceFlag(exception, "the exception's name", { nameWasRequired: true })
    .addHelpText("after", "\nExample:\n  podid render exception -n coredns --namespace kube-system --pod-labels k8s-app=kube-dns")
    .action(
      action<{ name?: string; namespace: string; podLabels?: string }>(async (o) => {
        const object = renderAzurePodIdentityException({
          name: checkKubeName("-n/--name", required(o.name, "-n/--name")),
          namespace: checkNamespace(o.namespace),
          podLabels: parsePodLabels(required(o.podLabels, "--pod-labels")),
        });
        return output([object]);
      }),
    );
}
