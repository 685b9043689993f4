import type { FederatedIdentityCredential } from "@azure/arm-msi";
import { ArmCode, IdentityCode, NotFoundError } from "../errors/index.js";
import { retry } from "../util/retry.js";
import { azureErrorInfo, fromAzureError, hasCode, isTransient, retryAfterMs } from "./errors.js";
import { parseResourceId, USER_ASSIGNED_IDENTITY_TYPE } from "./resource-id.js";
import { AzureSession } from "./session.js";

/**
 * Federated identity credentials of user-assigned identities (Microsoft.ManagedIdentity/userAssignedIdentities/
 * {id}/federatedIdentityCredentials) through @azure/arm-msi. The managed identity service writes one credential
 * of an identity at a time and answers a concurrent write with 409: writes to one identity are serialized here,
 * and a 409 from another writer (or throttling, 5xx) is retried with backoff, bounded.
 */

/** Entra ID's limit per user-assigned identity. */
export const MAX_FEDERATED_CREDENTIALS = 20;

export interface FederatedCredential {
  name: string;
  id: string;
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface FederatedCredentialValue {
  issuer: string;
  subject: string;
  audiences: string[];
}

function fromArm(c: FederatedIdentityCredential): FederatedCredential {
  return { name: c.name ?? "", id: c.id ?? "", issuer: c.issuer ?? "", subject: c.subject ?? "", audiences: c.audiences ?? [] };
}

/** Entra ID compares exactly: case, spaces and trailing slashes count. */
export function sameFederation(a: FederatedCredentialValue, b: FederatedCredentialValue): boolean {
  return a.issuer === b.issuer && a.subject === b.subject && a.audiences.length === b.audiences.length && a.audiences.every((x, i) => x === b.audiences[i]);
}

/** Writes to one identity's credentials, chained per process: the next starts when the previous has settled. */
const writeChains = new Map<string, Promise<unknown>>();

function serialized<T>(identityId: string, write: () => Promise<T>): Promise<T> {
  const key = identityId.toLowerCase();
  const previous = writeChains.get(key) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(write);
  const settled = next.catch(() => undefined);
  writeChains.set(key, settled);
  void settled.then(() => {
    if (writeChains.get(key) === settled) writeChains.delete(key);
  });
  return next;
}

export interface FederatedCredentialOptions {
  /** How long a write may keep retrying 409, 429 and 5xx (default 2 minutes). */
  maxRetryMs?: number;
  /** Told before each retry, in ARM's words. */
  onRetry?: (message: string) => void;
}

export class FederatedCredentialService {
  private readonly sessions = new Map<string, AzureSession>();

  constructor(
    private readonly azure: AzureSession,
    private readonly options: FederatedCredentialOptions = {},
  ) {}

  /** The identity's subscription may differ from the session's: the same credential, another client. */
  private clientFor(subscriptionId: string) {
    if (subscriptionId.toLowerCase() === this.azure.subscriptionId.toLowerCase()) return this.azure.msi;
    let session = this.sessions.get(subscriptionId.toLowerCase());
    if (!session) {
      session = new AzureSession(this.azure.cloud, this.azure.credential, subscriptionId);
      this.sessions.set(subscriptionId.toLowerCase(), session);
    }
    return session.msi;
  }

  private target(identityId: string) {
    const id = parseResourceId(identityId, USER_ASSIGNED_IDENTITY_TYPE);
    return { group: id.resourceGroup, name: id.name, credentials: this.clientFor(id.subscriptionId).federatedIdentityCredentials };
  }

  private retrying<T>(what: string, call: () => Promise<T>): Promise<T> {
    return retry(call, {
      retryable: isTransient,
      retryAfterMs,
      maxElapsedMs: this.options.maxRetryMs ?? 120_000,
      initialDelayMs: 500,
      maxDelayMs: 8000,
      onRetry: ({ error, delayMs }) => {
        const info = azureErrorInfo(error);
        const why = info ? `${info.statusCode ?? ""} ${info.code}`.trim() : "a dropped connection";
        this.options.onRetry?.(`${what}: ${why}; retrying in ${(delayMs / 1000).toFixed(1)}s`);
      },
    });
  }

  /** Every credential of the identity; NotFound when the identity does not exist. */
  async list(identityId: string): Promise<FederatedCredential[]> {
    const t = this.target(identityId);
    try {
      return await this.retrying(`listing the federated credentials of ${t.name}`, async () => {
        const out: FederatedCredential[] = [];
        for await (const c of t.credentials.list(t.group, t.name)) out.push(fromArm(c));
        return out;
      });
    } catch (err) {
      if (hasCode(err, ArmCode.ResourceNotFound, ArmCode.ResourceGroupNotFound, ArmCode.NotFound)) {
        throw new NotFoundError(IdentityCode.IdentityNotFound, `identity ${identityId} does not exist`, "Check the AzureIdentity's resourceID; list identities with: az identity list -o table");
      }
      throw fromAzureError(err, `listing the federated credentials of ${t.name}`);
    }
  }

  /** Creates the credential, or writes its value again; true when it did not exist. */
  async put(identityId: string, name: string, value: FederatedCredentialValue): Promise<{ credential: FederatedCredential; created: boolean }> {
    const t = this.target(identityId);
    const what = `writing federated credential ${name} of ${t.name}`;
    return serialized(identityId, async () => {
      try {
        const existed = await this.get(identityId, name);
        const written = await this.retrying(what, () => t.credentials.createOrUpdate(t.group, t.name, name, { issuer: value.issuer, subject: value.subject, audiences: [...value.audiences] }));
        return { credential: fromArm(written), created: !existed };
      } catch (err) {
        throw fromAzureError(err, what);
      }
    });
  }

  async get(identityId: string, name: string): Promise<FederatedCredential | undefined> {
    const t = this.target(identityId);
    try {
      return fromArm(await this.retrying(`reading federated credential ${name} of ${t.name}`, () => t.credentials.get(t.group, t.name, name)));
    } catch (err) {
      if (hasCode(err, ArmCode.ResourceNotFound, ArmCode.NotFound)) return undefined;
      throw fromAzureError(err, `reading federated credential ${name} of ${t.name}`);
    }
  }

  /** Deletes it; true when it existed. */
  async delete(identityId: string, name: string): Promise<boolean> {
    const t = this.target(identityId);
    const what = `deleting federated credential ${name} of ${t.name}`;
    return serialized(identityId, async () => {
      if (!(await this.get(identityId, name))) return false;
      try {
        await this.retrying(what, () => t.credentials.delete(t.group, t.name, name));
        return true;
      } catch (err) {
        if (hasCode(err, ArmCode.ResourceNotFound, ArmCode.NotFound)) return false;
        throw fromAzureError(err, what);
      }
    });
  }
}
