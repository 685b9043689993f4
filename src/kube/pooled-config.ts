import https from "node:https";
import type { RequestContext } from "@kubernetes/client-node";
import { TracedKubeConfig } from "./trace.js";

/**
 * The kubeconfig podid loads, with connections reused: @kubernetes/client-node makes a new HTTPS agent for every
 * request, so each one paid for a TLS handshake and for parsing the cluster's CA again (a command's dozens of reads
 * added up). Requests whose TLS settings are the same share one keep-alive agent; its idle connections hold no
 * process open. Agents of other kinds (proxies) are left as the SDK makes them.
 */
export class PooledKubeConfig extends TracedKubeConfig {
  private readonly agents = new Map<string, https.Agent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (!made || made.constructor !== https.Agent) return;
    const o = (made as https.Agent).options;
    const key = JSON.stringify([o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername]);
    let agent = this.agents.get(key);
    if (!agent) this.agents.set(key, (agent = new https.Agent({ ...o, keepAlive: true })));
    context.setAgent(agent);
  }
}
