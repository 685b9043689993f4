import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "../azure/resource-id.js";
import { shellWord } from "../util/shell.js";
import type { RoleAtScope } from "./record.js";

export interface IdentityAddCommandInput {
  /** The AzureIdentity's name and namespace. */
  name: string;
  namespace: string;
  /** The Azure identity it is to use; without it, `-g` names where a new one goes. */
  resourceId?: string;
  group?: string;
  roles: RoleAtScope[];
  cluster?: { name: string; resourceGroup: string };
}

/**
 * The `podid identity add` command(s) that bring an AzureIdentity back to a recorded state: the same Azure
 * identity (its group, and `--identity-resource-id` when its name is not the AzureIdentity's) and each role at
 * its own scope. `--role` is granted at every `--scope` of one command, so roles at different scopes take one
 * command per scope (each re-run adds to the record; nothing is granted twice).
 */
export function identityAddCommand(input: IdentityAddCommandInput): string {
  let id;
  try {
    id = input.resourceId ? parseResourceId(input.resourceId, USER_ASSIGNED_IDENTITY_TYPE) : undefined;
  } catch {
    id = undefined;
  }
  const base = [`podid identity add -n ${shellWord(input.name)}`, `-g ${id ? shellWord(id.resourceGroup) : input.group ? shellWord(input.group) : "<group>"}`, `--namespace ${shellWord(input.namespace)}`];
  if (id && id.name.toLowerCase() !== input.name.toLowerCase()) base.push(`--identity-resource-id ${shellWord(input.resourceId!)}`);
  if (input.cluster) base.push(`--cluster ${shellWord(input.cluster.name)} --cluster-resource-group ${shellWord(input.cluster.resourceGroup)}`);
  const byScope = new Map<string, { scope: string; roles: string[] }>();
  for (const r of input.roles) {
    const entry = byScope.get(r.scope.toLowerCase()) ?? { scope: r.scope, roles: [] };
    entry.roles.push(r.role);
    byScope.set(r.scope.toLowerCase(), entry);
  }
  if (!byScope.size) return base.join(" ");
  return [...byScope.values()].map((s) => [...base, ...s.roles.map((r) => `--role ${shellWord(r)}`), `--scope ${shellWord(s.scope)}`].join(" ")).join(" && ");
}
