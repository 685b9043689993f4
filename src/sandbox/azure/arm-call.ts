import type { SandboxRequest, SandboxResponse } from "../http/types.js";
import { ArmErrors } from "./arm-errors.js";
import type { CloudContext } from "./context.js";
import type { AzureState } from "./model.js";
import { isAuthorized } from "./rbac.js";

/** Thrown by handlers to answer with an ARM error body; the dispatcher sends it. */
export class ArmFailure extends Error {
  constructor(readonly response: SandboxResponse) {
    super(`ARM error ${response.status}`);
  }
}

/** One authenticated ARM request, as a handler sees it. */
export class ArmCall {
  constructor(
    readonly req: SandboxRequest,
    readonly ctx: CloudContext,
    /** Object id of the caller (the token's oid). */
    readonly caller: string,
  ) {}

  get state(): AzureState {
    return this.ctx.store.data;
  }

  get params(): Record<string, string> {
    return this.req.params;
  }

  get apiVersion(): string {
    return this.req.query.get("api-version") ?? "";
  }

  can(action: string, scope: string): boolean {
    return isAuthorized(this.state, this.caller, action, scope);
  }

  /** Fails with AuthorizationFailed unless the caller may perform `action` at `scope`. */
  demand(action: string, scope: string): void {
    if (!this.can(action, scope)) throw new ArmFailure(ArmErrors.authorizationFailed(this.caller, action, scope));
  }

  /** The JSON body, or ARM's InvalidRequestContent. */
  body<T = Record<string, unknown>>(): T {
    const type = String(this.req.headers["content-type"] ?? "application/json");
    if (!/json/i.test(type)) throw new ArmFailure(ArmErrors.unsupportedMediaType(type));
    const text = this.req.body.toString("utf8");
    if (!text.trim()) throw new ArmFailure(ArmErrors.invalidRequestContent("The request content is empty"));
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("Expected a JSON object");
      return parsed as T;
    } catch (err) {
      throw new ArmFailure(ArmErrors.invalidRequestContent((err as Error).message));
    }
  }

  /** When a principal created now becomes visible to role assignment (Entra ID replication delay). */
  replicatedAt(): number {
    return this.ctx.now() + this.state.settings.replicationDelaySeconds * 1000;
  }

  changed(): void {
    this.ctx.store.changed();
  }
}
