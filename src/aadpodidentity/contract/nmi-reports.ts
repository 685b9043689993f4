/**
 * What NMI reports about its iptables redirect as facts: Events on its Node (cluster-scoped, so in namespace
 * "default", as Kubernetes records a node's events) whose reason says the state. The newest one is the node's
 * state: NMI records one at start, at every change (a failure, the recovery, a repair) and, while the redirect is
 * not in place, refreshes it every interval so that it does not expire. Doctor reads them with `list events`.
 */
export const RedirectState = {
  /** The redirect is in place: after NMI started, after it repaired the chain, after a failure. */
  Installed: "IptablesRedirectInstalled",
  /** Installing or keeping the redirect failed; NMI tries again every --ipt-update-interval-sec. */
  Failed: "IptablesRedirectFailed",
  /** NMI may not change the node's nat table (no iptables binary, no NET_ADMIN, not root): pods bypass NMI. */
  NotPermitted: "IptablesRedirectNotPermitted",
} as const;
export type RedirectState = (typeof RedirectState)[keyof typeof RedirectState];

export const REDIRECT_STATES: readonly string[] = Object.values(RedirectState);

/** The Events' source component (upstream's name for the node agent). */
export const NMI_EVENT_COMPONENT = "nmi";

/** Where a node's events live. */
export const NODE_EVENT_NAMESPACE = "default";
