import { setTimeout as sleep } from "node:timers/promises";
import type { SandboxResponse } from "../../http/types.js";
import { ArmErrors } from "../arm-errors.js";
import { ArmFailure, type ArmCall } from "../arm-call.js";
import { FEDERATED_CREDENTIAL_TYPE, federatedCredentialsOf, forgetFederatedCredential, recordFederatedWrite, type FederatedCredentialProperties } from "../federation.js";
import type { ArmResource } from "../model.js";
import { ResourceType } from "../resource-type.js";
import { settingsOf } from "../settings.js";
import { findResource, key, page, requireGroup, requireSubscription } from "../scopes.js";
import { IDENTITY_TYPE } from "./msi.js";

/** What Microsoft.ManagedIdentity accepts as a federated credential's name. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$/;
const MAX_NAME = 120;
/** Entra ID's limit per application or user-assigned identity. */
export const MAX_FEDERATED_CREDENTIALS = 20;
const MAX_VALUE_LENGTH = 600;

const READ = `${FEDERATED_CREDENTIAL_TYPE}/read`;
const WRITE = `${FEDERATED_CREDENTIAL_TYPE}/write`;
const DELETE = `${FEDERATED_CREDENTIAL_TYPE}/delete`;

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === "https:";
  } catch {
    return false;
  }
}

/** The properties of a PUT body, as the managed identity service checks them; stored exactly as given. */
function propertiesOf(body: { properties?: Partial<Record<keyof FederatedCredentialProperties, unknown>> }): FederatedCredentialProperties {
  const p = body.properties ?? {};
  const { issuer, subject, audiences, description } = p;
  if (typeof issuer !== "string" || !issuer || typeof subject !== "string" || !subject || !Array.isArray(audiences) || audiences.length === 0) {
    throw new ArmFailure(ArmErrors.invalidFederatedCredential("Federated Identity Credential must specify 'issuer', 'subject' and 'audience'."));
  }
  if (!audiences.every((a): a is string => typeof a === "string" && a.length > 0 && a.length <= MAX_VALUE_LENGTH) || audiences.length !== 1) {
    throw new ArmFailure(ArmErrors.invalidFederatedCredential(`Federated Identity Credential 'audiences' must hold exactly one value of at most ${MAX_VALUE_LENGTH} characters.`));
  }
  if (!isHttpsUrl(issuer) || issuer.length > MAX_VALUE_LENGTH) {
    throw new ArmFailure(ArmErrors.invalidFederatedCredential(`Federated Identity Credential 'issuer' must be an https URL of at most ${MAX_VALUE_LENGTH} characters.`));
  }
  if (subject.length > MAX_VALUE_LENGTH) throw new ArmFailure(ArmErrors.invalidFederatedCredential(`Federated Identity Credential 'subject' must be at most ${MAX_VALUE_LENGTH} characters.`));
  if (description !== undefined && typeof description !== "string") throw new ArmFailure(ArmErrors.invalidFederatedCredential("Federated Identity Credential 'description' must be a string."));
  return { issuer, subject, audiences: [...audiences], ...(description !== undefined ? { description } : {}) };
}

/**
 * Microsoft.ManagedIdentity/userAssignedIdentities/{id}/federatedIdentityCredentials. Each write takes the managed
 * identity service a moment (settings.federatedCredentialWriteMs) during which another write to the same identity's
 * credentials is refused with 409, as ARM refuses concurrent writes; Entra ID learns a new or changed credential
 * only after the federation delay (recordFederatedWrite).
 */
export class FederatedCredentialHandlers {
  private readonly identities = new ResourceType(IDENTITY_TYPE);
  /** Identities (lower-cased ids) with a credential write in progress. */
  private readonly writing = new Set<string>();

  private idOf(call: ArmCall): string {
    return `${this.identities.id(call)}/federatedIdentityCredentials/${call.params.federatedIdentityCredentialResourceName}`;
  }

  /** ARM's order: subscription, permission on the credential, group, then the parent identity. */
  private parent(call: ArmCall, action: string): ArmResource {
    const { subscriptionId, resourceGroupName } = call.params;
    requireSubscription(call, subscriptionId);
    call.demand(action, this.idOf(call));
    requireGroup(call, subscriptionId, resourceGroupName);
    const identity = findResource(call, this.identities.id(call));
    if (!identity) throw this.identities.notFound(call);
    return identity;
  }

  private notFound(call: ArmCall): ArmFailure {
    const { resourceName, federatedIdentityCredentialResourceName, resourceGroupName } = call.params;
    return new ArmFailure(ArmErrors.resourceNotFound(`${IDENTITY_TYPE}/${resourceName}/federatedIdentityCredentials/${federatedIdentityCredentialResourceName}`, resourceGroupName));
  }

  /** Runs a write while no other write to this identity's credentials runs; a concurrent one gets ARM's 409. */
  private async exclusive<T>(call: ArmCall, identity: ArmResource, write: () => T): Promise<T> {
    const lock = key(identity.id);
    if (this.writing.has(lock)) throw new ArmFailure(ArmErrors.concurrentFederatedCredentialWrites(identity.id));
    this.writing.add(lock);
    try {
      await sleep(settingsOf(call.state).federatedCredentialWriteMs);
      return write();
    } finally {
      this.writing.delete(lock);
    }
  }

  createOrUpdate = async (call: ArmCall): Promise<SandboxResponse> => {
    const identity = this.parent(call, WRITE);
    const name = call.params.federatedIdentityCredentialResourceName;
    if (!NAME.test(name)) throw new ArmFailure(ArmErrors.invalidResourceName(name, MAX_NAME));
    const properties = propertiesOf(call.body());
    return this.exclusive(call, identity, () => {
      // The identity may have been deleted while this write was under way.
      if (!findResource(call, identity.id)) throw this.identities.notFound(call);
      const id = this.idOf(call);
      const existing = findResource(call, id);
      const others = federatedCredentialsOf(call.state, identity.id).filter((c) => key(c.id) !== key(id));
      const taken = others.some((c) => {
        const p = c.properties as unknown as FederatedCredentialProperties;
        return p.issuer === properties.issuer && p.subject === properties.subject;
      });
      if (taken) throw new ArmFailure(ArmErrors.federatedCredentialExists());
      if (!existing && others.length >= MAX_FEDERATED_CREDENTIALS) throw new ArmFailure(ArmErrors.tooManyFederatedCredentials(identity.id, MAX_FEDERATED_CREDENTIALS));
      const credential: ArmResource = existing ?? { id, name, type: FEDERATED_CREDENTIAL_TYPE };
      const before = existing ? (existing.properties as unknown as FederatedCredentialProperties) : undefined;
      credential.properties = { ...properties };
      call.state.resources[key(id)] = credential;
      recordFederatedWrite(call.state, credential, before, call.ctx.now(), settingsOf(call.state).federationDelaySeconds);
      call.changed();
      return { status: existing ? 200 : 201, body: credential };
    });
  };

  get = (call: ArmCall): SandboxResponse => {
    this.parent(call, READ);
    const credential = findResource(call, this.idOf(call));
    if (!credential) throw this.notFound(call);
    return { status: 200, body: credential };
  };

  /** `$top` pages the list with a `$skiptoken` nextLink, as the service does. */
  list = (call: ArmCall): SandboxResponse => {
    const identity = this.parent(call, READ);
    const all = federatedCredentialsOf(call.state, identity.id).sort((a, b) => a.name.localeCompare(b.name));
    const top = Number(call.req.query.get("$top") ?? "");
    const skip = Number(call.req.query.get("$skiptoken") ?? "0") || 0;
    if (!Number.isInteger(top) || top <= 0) return { status: 200, body: page(all.slice(skip)) };
    const items = all.slice(skip, skip + top);
    const body: { value: ArmResource[]; nextLink?: string } = page(items);
    if (skip + top < all.length) {
      const next = new URL(`${call.ctx.endpoints.arm}${call.req.path}`);
      next.searchParams.set("api-version", call.apiVersion);
      next.searchParams.set("$top", String(top));
      next.searchParams.set("$skiptoken", String(skip + top));
      body.nextLink = next.toString();
    }
    return { status: 200, body };
  };

  /** 200 when deleted, 204 when there was nothing to delete. */
  delete = async (call: ArmCall): Promise<SandboxResponse> => {
    const identity = this.parent(call, DELETE);
    const id = this.idOf(call);
    if (!findResource(call, id)) return { status: 204 };
    return this.exclusive(call, identity, () => {
      delete call.state.resources[key(id)];
      forgetFederatedCredential(call.state, id);
      call.changed();
      return { status: 200 };
    });
  };
}
