import { randomUUID } from "node:crypto";
import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import { federatedCredentialsOf, forgetFederatedCredential } from "../federation.js";
import type { ArmResource } from "../model.js";
import { ResourceType } from "../resource-type.js";
import { key, normalizeLocation, page } from "../scopes.js";

export const IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities";
/** What Microsoft.ManagedIdentity accepts as a name: 3-128 characters, alphanumeric first. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/;

/** Microsoft.ManagedIdentity/userAssignedIdentities. Creating one creates its service principal in the directory. */
export class MsiHandlers {
  private readonly identities = new ResourceType(IDENTITY_TYPE);

  createOrUpdate = (call: ArmCall): SandboxResponse => {
    const existing = this.identities.find(call, this.identities.write);
    const { resourceName } = call.params;
    if (!NAME.test(resourceName)) throw new ArmFailure(ArmErrors.invalidResourceName(resourceName));
    const body = call.body<{ location?: string; tags?: Record<string, string> }>();
    if (existing) {
      if (body.tags) existing.tags = body.tags;
      call.changed();
      return { status: 200, body: existing };
    }
    if (!body.location) throw new ArmFailure(ArmErrors.locationRequired());
    const id = this.identities.id(call);
    const principalId = randomUUID();
    const clientId = randomUUID();
    const identity: ArmResource = {
      id,
      name: resourceName,
      type: IDENTITY_TYPE,
      location: normalizeLocation(body.location),
      tags: body.tags ?? {},
      properties: { isolationScope: "None", tenantId: call.state.tenantId, principalId, clientId },
    };
    call.state.resources[key(id)] = identity;
    call.state.principals[principalId] = {
      objectId: principalId,
      appId: clientId,
      displayName: resourceName,
      kind: "managedIdentity",
      // Entra ID replication: role assignments cannot see the new principal for a while (PrincipalNotFound).
      visibleAt: call.replicatedAt(),
      miResourceId: id,
    };
    call.changed();
    return { status: 201, body: identity };
  };

  get = (call: ArmCall): SandboxResponse => ({ status: 200, body: this.identities.require(call) });

  update = (call: ArmCall): SandboxResponse => {
    const identity = this.identities.require(call, this.identities.write);
    const body = call.body<{ tags?: Record<string, string> }>();
    if (body.tags) identity.tags = body.tags;
    call.changed();
    return { status: 200, body: identity };
  };

  /** 200 when deleted, 204 when there was nothing to delete; the identity's principal goes with it. */
  delete = (call: ArmCall): SandboxResponse => {
    const identity = this.identities.find(call, this.identities.delete);
    if (!identity) return { status: 204 };
    delete call.state.resources[key(identity.id)];
    // Its federated identity credentials are child resources: they go with it.
    for (const credential of federatedCredentialsOf(call.state, identity.id)) {
      delete call.state.resources[key(credential.id)];
      forgetFederatedCredential(call.state, credential.id);
    }
    delete call.state.principals[String(identity.properties?.principalId ?? "")];
    call.changed();
    return { status: 200 };
  };

  listByResourceGroup = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.identities.listInGroup(call)) });

  listBySubscription = (call: ArmCall): SandboxResponse => ({ status: 200, body: page(this.identities.listInSubscription(call)) });
}
