import { randomBytes } from "node:crypto";
import { NMI_EVENT_COMPONENT, NODE_EVENT_NAMESPACE, RedirectState } from "../../aadpodidentity/contract/nmi-reports.js";
import type { LiteKubeClient } from "../../kube/lite/client.js";
import type { Logger } from "../../util/logger.js";

/** One check of the redirect: its state, what NMI says about it, and whether NMI changed the rules to get there. */
export interface RedirectReport {
  state: RedirectState;
  message: string;
  changed: boolean;
}

interface Recorded {
  state: RedirectState;
  message: string;
  name: string;
  count: number;
}

const EVENTS = `/api/v1/namespaces/${NODE_EVENT_NAMESPACE}/events`;

/**
 * Records the redirect's state as Events on NMI's Node (nmi-reports.ts): a new Event when the state or its words
 * change or NMI changed the rules, and, while the redirect is not in place, the same Event counted again at each
 * check (count and lastTimestamp, as Kubernetes' event correlator does) so that it lives as long as the trouble.
 * Best effort: an Event that cannot be written is logged once and never stops NMI.
 */
export class RedirectReporter {
  private last?: Recorded;
  private writeFailed = false;

  constructor(
    private readonly kube: LiteKubeClient,
    private readonly node: string,
    private readonly logger: Logger,
  ) {}

  async report(report: RedirectReport): Promise<void> {
    const warning = report.state !== RedirectState.Installed;
    const same = this.last && this.last.state === report.state && this.last.message === report.message && !report.changed;
    try {
      if (same && !warning) return;
      const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      if (same && this.last) {
        this.last.count++;
        await this.kube.mergePatch(`${EVENTS}/${this.last.name}`, { count: this.last.count, lastTimestamp: now });
        return;
      }
      const name = `${this.node}.${randomBytes(8).toString("hex")}`;
      await this.kube.create(EVENTS, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace: NODE_EVENT_NAMESPACE },
        involvedObject: { apiVersion: "v1", kind: "Node", name: this.node },
        reason: report.state,
        message: report.message,
        type: warning ? "Warning" : "Normal",
        source: { component: NMI_EVENT_COMPONENT, host: this.node },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      this.last = { state: report.state, message: report.message, name, count: 1 };
      this.writeFailed = false;
    } catch (err) {
      // A refreshed Event that is gone (expired) is recorded anew at the next check.
      if (same) this.last = undefined;
      if (!this.writeFailed) this.logger.warn(`cannot record the iptables redirect's state as an Event on node ${this.node}: ${(err as Error).message}`);
      this.writeFailed = true;
    }
  }
}
