import type { VirtualMachineScaleSetUpdate, VirtualMachineUpdate } from "@azure/arm-compute";
import { retry } from "../util/retry.js";
import { armStatusText, computeFailureOf, fromAzureError, isTransient, retryAfterMs, type ComputeFailure } from "./errors.js";
import type { AzureSession } from "./session.js";
import type { ComputeTarget } from "./provider-id.js";

export { computeTargetOfProviderId, type ComputeTarget } from "./provider-id.js";

/**
 * User-assigned identities on the compute behind a node: a VM scale set (AKS node pools) or a standalone VM.
 * Reads and PATCHes `identity.userAssignedIdentities` only; ids are compared and sent lower-cased.
 */

/** ARM refuses more user-assigned identities than this in one request (FailedIdentityOperation). */
export const MAX_IDENTITIES_PER_REQUEST = 150;

export interface AttachedIdentity {
  resourceId: string;
  clientId?: string;
  principalId?: string;
}

export interface ComputeIdentityState {
  /** None, SystemAssigned, UserAssigned, or "SystemAssigned, UserAssigned". */
  type: string;
  provisioningState?: string;
  /** By lower-cased resource id. */
  identities: Map<string, AttachedIdentity>;
}

export interface IdentityChange {
  /** Resource ids to attach. */
  add: string[];
  /** Resource ids to detach (absent ones are ignored). */
  remove: string[];
}

/** A transient failure about to be retried: what failed, as ARM said it, and when the next attempt goes. */
export interface ComputeRetry {
  operation: "get" | "update";
  failure: ComputeFailure;
  /** ARM's status and code, e.g. `429 TooManyRequests`; empty when the connection failed. */
  status: string;
  attempt: number;
  delayMs: number;
}

/**
 * How a caller bounds one call: cancelled by `signal`; `fence` runs before every write and throws to refuse it;
 * `onRetry` hears of each transient failure before its retry (MIC reports throttling as it happens).
 */
export interface CallControl {
  signal?: AbortSignal;
  fence?: () => void;
  onRetry?: (retry: ComputeRetry) => void;
}

export interface ComputeIdentitiesOptions {
  /** Budget for retrying throttling and 5xx on one call (Retry-After honoured). */
  maxRetryMs: number;
  /** Told about every ARM write (one per request), for metrics. */
  onWrite?: (target: ComputeTarget, ok: boolean) => void;
}

export type IdentityBody = { type: string; userAssignedIdentities?: Record<string, object | null> };

/**
 * The PATCH bodies a change takes, in order, at most 150 entries each (one when it fits): `{}` attaches, `null`
 * detaches, absent keys stay. Entries that would change nothing are left out; none when none remain. Each body's
 * identity type follows from what the target holds once the bodies before it have been applied.
 */
export function identityPatches(current: ComputeIdentityState, change: IdentityChange): IdentityBody[] {
  const remaining = new Set(current.identities.keys());
  const entries: [string, object | null][] = [];
  const adding = new Set(change.add.map((id) => id.toLowerCase()));
  for (const id of new Set(change.remove.map((r) => r.toLowerCase()))) {
    if (remaining.has(id) && !adding.has(id)) entries.push([id, null]);
  }
  for (const id of adding) if (!remaining.has(id)) entries.push([id, {}]);
  const bodies: IdentityBody[] = [];
  for (let i = 0; i < entries.length; i += MAX_IDENTITIES_PER_REQUEST) {
    const chunk = entries.slice(i, i + MAX_IDENTITIES_PER_REQUEST);
    for (const [id, value] of chunk) {
      if (value === null) remaining.delete(id);
      else remaining.add(id);
    }
    bodies.push(identityBody(current.type, Object.fromEntries(chunk), remaining.size));
  }
  return bodies;
}

export class ComputeIdentities {
  constructor(
    private readonly azure: AzureSession,
    private readonly options: ComputeIdentitiesOptions,
  ) {}

  private retrying<T>(operation: ComputeRetry["operation"], call: () => Promise<T>, control: CallControl): Promise<T> {
    return retry(call, {
      signal: control.signal,
      retryable: isTransient,
      retryAfterMs,
      maxElapsedMs: this.options.maxRetryMs,
      initialDelayMs: 500,
      maxDelayMs: 8000,
      onRetry: ({ error, delayMs, attempt }) => control.onRetry?.({ operation, failure: computeFailureOf(error), status: armStatusText(error), attempt, delayMs }),
    });
  }

  async get(target: ComputeTarget, control: CallControl = {}): Promise<ComputeIdentityState> {
    const compute = await this.azure.compute();
    const options = { abortSignal: control.signal };
    try {
      const resource = await this.retrying(
        "get",
        () => (target.kind === "scaleSet" ? compute.virtualMachineScaleSets.get(target.resourceGroup, target.name, options) : compute.virtualMachines.get(target.resourceGroup, target.name, options)),
        control,
      );
      return stateOf(resource);
    } catch (err) {
      throw fromAzureError(err, `reading the identities of ${target.kind === "scaleSet" ? "scale set" : "VM"} ${target.name}`);
    }
  }

  /**
   * Applies the change as the PATCHes identityPatches() makes of it; no request when nothing would change.
   * Returns the state after the last request. Throws the ARM error of the first refused request.
   */
  async update(target: ComputeTarget, change: IdentityChange, current: ComputeIdentityState, control: CallControl = {}): Promise<ComputeIdentityState> {
    if (current.provisioningState?.toLowerCase() === "deleting") {
      throw fromAzureError(new Error(`${target.name} is in Deleting provisioning state`), `updating the identities of ${target.name}`);
    }
    let state = current;
    for (const body of identityPatches(current, change)) {
      try {
        const updated = await this.retrying(
          "update",
          () => {
            control.fence?.();
            return this.patch(target, body, control.signal);
          },
          control,
        );
        this.options.onWrite?.(target, true);
        state = stateOf(updated);
      } catch (err) {
        this.options.onWrite?.(target, false);
        throw err;
      }
    }
    return state;
  }

  private async patch(target: ComputeTarget, identity: IdentityBody, abortSignal?: AbortSignal) {
    const compute = await this.azure.compute();
    const options = { updateIntervalInMs: 500, abortSignal };
    // ARM's PATCH takes null to detach; the SDK's types do not say so.
    if (target.kind === "scaleSet") {
      return compute.virtualMachineScaleSets.beginUpdateAndWait(target.resourceGroup, target.name, { identity } as VirtualMachineScaleSetUpdate, options);
    }
    return compute.virtualMachines.beginUpdateAndWait(target.resourceGroup, target.name, { identity } as VirtualMachineUpdate, options);
  }
}

/** Identity type after a change: keeps SystemAssigned as it was; None (or SystemAssigned) when no user-assigned one remains. */
function identityBody(currentType: string, delta: Record<string, object | null>, remainingCount: number): IdentityBody {
  const system = /systemassigned/i.test(currentType.replace(/\s/g, ""));
  if (remainingCount === 0) return { type: system ? "SystemAssigned" : "None", userAssignedIdentities: delta };
  return { type: system ? "SystemAssigned, UserAssigned" : "UserAssigned", userAssignedIdentities: delta };
}

function stateOf(resource: {
  provisioningState?: string;
  identity?: { type?: string; userAssignedIdentities?: Record<string, { clientId?: string; principalId?: string }> };
}): ComputeIdentityState {
  const identities = new Map<string, AttachedIdentity>();
  for (const [resourceId, value] of Object.entries(resource.identity?.userAssignedIdentities ?? {})) {
    identities.set(resourceId.toLowerCase(), { resourceId, clientId: value?.clientId, principalId: value?.principalId });
  }
  return { type: resource.identity?.type ?? "None", provisioningState: resource.provisioningState, identities };
}
