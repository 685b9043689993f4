import { ArmErrors } from "./arm-errors.js";
import { ArmFailure, type ArmCall } from "./arm-call.js";
import type { ArmResource, AzureState, Subscription } from "./model.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ARM's rule for resource group names. */
const GROUP_NAME = /^[-\p{L}\p{N}_.()]{1,90}$/u;
const GROUP_NAME_INVALID = /[^-\p{L}\p{N}_.()]/gu;

export function subscriptionScope(subscriptionId: string): string {
  return `/subscriptions/${subscriptionId}`;
}

export function groupId(subscriptionId: string, group: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${group}`;
}

export function providerId(subscriptionId: string, group: string, type: string, name: string): string {
  return `${groupId(subscriptionId, group)}/providers/${type}/${name}`;
}

export function key(id: string): string {
  return id.replace(/\/+$/, "").toLowerCase();
}

/** The subscription in the path, or SubscriptionNotFound / InvalidSubscriptionId. */
export function requireSubscription(call: ArmCall, subscriptionId: string): Subscription {
  if (!GUID.test(subscriptionId)) throw new ArmFailure(ArmErrors.invalidSubscriptionId(subscriptionId));
  const sub = call.state.subscriptions[subscriptionId.toLowerCase()];
  if (!sub) throw new ArmFailure(ArmErrors.subscriptionNotFound(subscriptionId));
  return sub;
}

export function checkGroupName(name: string): void {
  if (GROUP_NAME.test(name) && !name.endsWith(".")) return;
  const invalid = [...new Set(name.match(GROUP_NAME_INVALID) ?? [])].join("");
  throw new ArmFailure(ArmErrors.invalidResourceGroupName(name, invalid));
}

export function findResource(call: ArmCall, id: string): ArmResource | undefined {
  return findResourceIn(call.state, id);
}

export function findResourceIn(state: AzureState, id: string): ArmResource | undefined {
  return state.resources[key(id)];
}

/** The resource group, or ResourceGroupNotFound. */
export function requireGroup(call: ArmCall, subscriptionId: string, group: string): ArmResource {
  const rg = findResource(call, groupId(subscriptionId, group));
  if (!rg) throw new ArmFailure(ArmErrors.resourceGroupNotFound(group));
  return rg;
}

/** The resources of a type directly under a scope prefix (a subscription or a group). */
export function resourcesOfType(call: ArmCall, type: string, underScope: string): ArmResource[] {
  const prefix = key(underScope) + "/";
  const t = type.toLowerCase();
  return Object.entries(call.state.resources)
    .filter(([k, r]) => k.startsWith(prefix) && r.type.toLowerCase() === t)
    .map(([, r]) => r);
}

/** A fully qualified provider resource id: /subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}[/{type}/{name}...]. */
export function isResourceId(id: string): boolean {
  const parts = id.split("/").filter(Boolean);
  return (
    id.startsWith("/") &&
    parts.length >= 8 &&
    parts.length % 2 === 0 &&
    parts[0].toLowerCase() === "subscriptions" &&
    parts[2].toLowerCase() === "resourcegroups" &&
    parts[4].toLowerCase() === "providers"
  );
}

/** ARM stores locations as their short names: "East US" -> "eastus". */
export function normalizeLocation(location: string): string {
  return location.toLowerCase().replace(/\s+/g, "");
}

/** ARM list envelope. */
export function page<T>(items: T[]): { value: T[] } {
  return { value: items };
}
