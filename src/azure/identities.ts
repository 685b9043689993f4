import type { Identity } from "@azure/arm-msi";
import { ArmCode } from "../errors/index.js";
import { fromAzureError, hasCode } from "./errors.js";
import { formatResourceId, parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "./resource-id.js";
import type { AzureSession } from "./session.js";

/** Tag podid puts on identities it creates, so `identity delete` removes only what podid made. */
export const CREATED_BY_TAG = "created-by";
export const CREATED_BY_VALUE = "podid";

export interface UserAssignedIdentity {
  id: string;
  name: string;
  resourceGroup: string;
  subscriptionId: string;
  location: string;
  clientId: string;
  principalId: string;
  tenantId: string;
  tags: Record<string, string>;
}

function fromArm(identity: Identity): UserAssignedIdentity {
  const id = parseResourceId(identity.id!, USER_ASSIGNED_IDENTITY_TYPE);
  return {
    id: formatResourceId(id),
    name: identity.name!,
    resourceGroup: id.resourceGroup,
    subscriptionId: id.subscriptionId,
    location: identity.location,
    clientId: identity.clientId!,
    principalId: identity.principalId!,
    tenantId: identity.tenantId!,
    tags: identity.tags ?? {},
  };
}

export function createdByPodid(identity: UserAssignedIdentity): boolean {
  return identity.tags[CREATED_BY_TAG] === CREATED_BY_VALUE;
}

export class IdentityService {
  constructor(private readonly azure: AzureSession) {}

  /** The identity, or undefined when it does not exist (its group may not exist either). */
  async get(resourceGroup: string, name: string): Promise<UserAssignedIdentity | undefined> {
    try {
      return fromArm(await this.azure.msi.userAssignedIdentities.get(resourceGroup, name));
    } catch (err) {
      if (hasCode(err, ArmCode.ResourceNotFound, ArmCode.ResourceGroupNotFound, ArmCode.NotFound)) return undefined;
      throw fromAzureError(err, `reading identity ${name} in ${resourceGroup}`);
    }
  }

  async create(resourceGroup: string, name: string, location: string, tags: Record<string, string>): Promise<UserAssignedIdentity> {
    try {
      return fromArm(await this.azure.msi.userAssignedIdentities.createOrUpdate(resourceGroup, name, { location, tags }));
    } catch (err) {
      throw fromAzureError(err, `creating identity ${name} in ${resourceGroup}`);
    }
  }

  /** Every user-assigned identity in the subscription. */
  async list(): Promise<UserAssignedIdentity[]> {
    try {
      const out: UserAssignedIdentity[] = [];
      for await (const identity of this.azure.msi.userAssignedIdentities.listBySubscription()) out.push(fromArm(identity));
      return out;
    } catch (err) {
      throw fromAzureError(err, "listing user-assigned identities");
    }
  }

  /** Deletes it; true when it existed. */
  async delete(resourceGroup: string, name: string): Promise<boolean> {
    if (!(await this.get(resourceGroup, name))) return false;
    try {
      await this.azure.msi.userAssignedIdentities.delete(resourceGroup, name);
      return true;
    } catch (err) {
      throw fromAzureError(err, `deleting identity ${name} in ${resourceGroup}`);
    }
  }
}
