import { randomUUID } from "node:crypto";
import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors, MAX_IDENTITIES_PER_REQUEST } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import type { ArmResource } from "../model.js";
import { ResourceType } from "../resource-type.js";
import { findResource, isResourceId, key, page, requireSubscription } from "../scopes.js";
import { IDENTITY_TYPE } from "./msi.js";

export const SCALE_SET_TYPE = "Microsoft.Compute/virtualMachineScaleSets";
const WRITE = `${SCALE_SET_TYPE}/write`;
const VM_READ = `${SCALE_SET_TYPE}/virtualMachines/read`;
export const ASSIGN_ACTION = `${IDENTITY_TYPE}/assign/action`;

export interface ScaleSetIdentity {
  type: string;
  principalId?: string;
  tenantId?: string;
  userAssignedIdentities?: Record<string, { principalId: string; clientId: string }>;
}

const VALID_TYPES = new Map(["SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned", "None"].map((t) => [t.toLowerCase().replace(/\s/g, ""), t]));

/** Computes the identity block after a request, with ARM's rules: a null value removes, PATCH keeps absent keys. */
export function nextIdentity(
  current: ScaleSetIdentity | undefined,
  requested: { type?: string; userAssignedIdentities?: Record<string, object | null> },
  mode: "patch" | "put",
): { identity: ScaleSetIdentity; added: string[] } {
  const type = requested.type ? VALID_TYPES.get(requested.type.toLowerCase().replace(/\s/g, "")) : current?.type ?? "None";
  if (!type) throw new ArmFailure(ArmErrors.invalidIdentityType(requested.type!));
  const base = mode === "patch" ? { ...(current?.userAssignedIdentities ?? {}) } : {};
  const existingKeys = new Map(Object.keys(current?.userAssignedIdentities ?? {}).map((k) => [k.toLowerCase(), k]));
  const added: string[] = [];
  for (const [id, value] of Object.entries(requested.userAssignedIdentities ?? {})) {
    const known = existingKeys.get(id.toLowerCase());
    if (value === null) {
      if (known) delete base[known];
      continue;
    }
    if (!known) added.push(id);
    else if (mode === "put") base[known] = current!.userAssignedIdentities![known];
  }
  const withUser = type.includes("UserAssigned");
  const users = withUser ? base : {};
  return {
    identity: {
      type: withUser && Object.keys(users).length === 0 && added.length === 0 ? (type.includes("SystemAssigned") ? "SystemAssigned" : "None") : type,
      ...(type.includes("SystemAssigned") ? { principalId: current?.principalId, tenantId: current?.tenantId } : {}),
      ...(withUser ? { userAssignedIdentities: users as ScaleSetIdentity["userAssignedIdentities"] } : {}),
    },
    added: withUser ? added : [],
  };
}

/** Microsoft.Compute virtual machine scale sets and their instances, with the identity semantics MIC relies on. */
export class ComputeHandlers {
  private readonly scaleSets = new ResourceType(SCALE_SET_TYPE);
  private readonly virtualMachines = new ResourceType("Microsoft.Compute/virtualMachines");

  get = (call: ArmCall): SandboxResponse => ({ status: 200, body: this.scaleSets.require(call) });

  update = (call: ArmCall): SandboxResponse => this.write(call, "patch");

  createOrUpdate = (call: ArmCall): SandboxResponse => this.write(call, "put");

  /**
   * PUT and PATCH, in ARM's order: the caller's write permission, then linked authorization (ARM checks
   * `assign/action` on every user-assigned identity the request names with a value, before Compute sees it),
   * then the scale set itself, then Compute's own identity checks.
   */
  private write(call: ArmCall, mode: "patch" | "put"): SandboxResponse {
    const id = this.scaleSets.id(call);
    requireSubscription(call, call.params.subscriptionId);
    call.demand(WRITE, id);
    const body = call.body<{ identity?: { type?: string; userAssignedIdentities?: Record<string, object | null> }; tags?: Record<string, string> }>();
    const named = Object.entries(body.identity?.userAssignedIdentities ?? {}).filter(([, v]) => v !== null).map(([k]) => k);
    const malformed = named.find((k) => !isResourceId(k));
    if (malformed) throw new ArmFailure(ArmErrors.linkedInvalidPropertyId(malformed, "identity.userAssignedIdentities"));
    const refused = named.filter((identityId) => !call.can(ASSIGN_ACTION, identityId));
    if (refused.length) throw new ArmFailure(ArmErrors.linkedAuthorizationFailed(call.caller, WRITE, id, ASSIGN_ACTION, refused));
    const vmss = this.scaleSets.require(call, WRITE);
    if (body.identity) {
      // Removals count too: MIC hit the limit unassigning as well as assigning (aad-pod-identity #813).
      const requestedCount = Object.keys(body.identity.userAssignedIdentities ?? {}).length;
      if (requestedCount > MAX_IDENTITIES_PER_REQUEST) throw new ArmFailure(ArmErrors.tooManyIdentities(vmss.id, requestedCount));
      const current = vmss.identity as ScaleSetIdentity | undefined;
      const { identity, added } = nextIdentity(current, body.identity, mode);
      const missing = added.find((identityId) => findResource(call, identityId)?.type !== IDENTITY_TYPE);
      if (missing) throw new ArmFailure(ArmErrors.identityNotFound(vmss.id, missing));
      for (const identityId of added) {
        const source = findResource(call, identityId)!;
        identity.userAssignedIdentities![identityId] = { principalId: String(source.properties?.principalId), clientId: String(source.properties?.clientId) };
      }
      this.systemAssigned(call, vmss, current, identity);
      vmss.identity = identity as unknown as Record<string, unknown>;
    }
    if (body.tags) vmss.tags = body.tags;
    call.changed();
    return { status: 200, body: vmss };
  }

  /** Turning the system-assigned identity on creates its service principal; turning it off deletes it. */
  private systemAssigned(call: ArmCall, vmss: ArmResource, before: ScaleSetIdentity | undefined, after: ScaleSetIdentity): void {
    const wanted = after.type.includes("SystemAssigned");
    if (wanted && !after.principalId) {
      const objectId = randomUUID();
      call.state.principals[objectId] = { objectId, appId: randomUUID(), displayName: vmss.name, kind: "managedIdentity", visibleAt: call.replicatedAt(), miResourceId: vmss.id };
      after.principalId = objectId;
      after.tenantId = call.state.tenantId;
    }
    if (!wanted && before?.principalId) delete call.state.principals[before.principalId];
  }

  listByResourceGroup = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.scaleSets.listInGroup(call)) });

  listVirtualMachines = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.virtualMachines.listInGroup(call)) });

  listAll = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.scaleSets.listInSubscription(call)) });

  private instances(call: ArmCall, vmss: ArmResource): ArmResource[] {
    const prefix = key(vmss.id) + "/virtualmachines/";
    return Object.entries(call.state.resources)
      .filter(([k]) => k.startsWith(prefix))
      .map(([, vm]) => ({ ...vm, ...(vmss.identity ? { identity: vmss.identity } : {}) }));
  }

  listInstances = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.instances(call, this.scaleSets.require(call, VM_READ))) });

  getInstance = (call: ArmCall): SandboxResponse => {
    const vmss = this.scaleSets.require(call, VM_READ);
    const vm = this.instances(call, vmss).find((v) => String(v.instanceId) === call.params.instanceId);
    if (!vm) throw new ArmFailure(ArmErrors.resourceNotFound(`${SCALE_SET_TYPE}/${call.params.resourceName}/virtualMachines/${call.params.instanceId}`, call.params.resourceGroupName));
    return { status: 200, body: vm };
  };
}
