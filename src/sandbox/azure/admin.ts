import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { Router } from "../http/router.js";
import { json, type Handler } from "../http/types.js";
import type { CloudContext } from "./context.js";
import { FAULT_SERVICES, type FaultRule } from "./model.js";
import { CHANGEABLE_SETTINGS, SETTING_LIMITS, settingsOf } from "./settings.js";
import { clockAdvanceRefusal } from "../clock.js";

export const ADMIN_KEY_HEADER = "x-podid-sandbox-key";
export const ADMIN_PREFIX = "/.sandbox/";

function validRule(value: unknown): value is FaultRule {
  const r = value as FaultRule;
  return Boolean(
    r &&
      typeof r.path === "string" &&
      (r.status === undefined || [429, 500, 502, 503, 504].includes(r.status)) &&
      (r.drop === undefined || typeof r.drop === "boolean") &&
      [...FAULT_SERVICES, "*"].includes(r.service ?? "*"),
  );
}

/** Adds an application service principal with a secret: a second caller for RBAC scenarios. */
export function addApplication(ctx: CloudContext, displayName: string) {
  const objectId = randomUUID();
  const appId = randomUUID();
  const secret = randomBytes(24).toString("base64url");
  ctx.store.data.principals[objectId] = { objectId, appId, displayName, kind: "application", visibleAt: 0, secret };
  ctx.store.changed();
  return { tenantId: ctx.store.data.tenantId, clientId: appId, objectId, clientSecret: secret };
}

export function setFaults(ctx: CloudContext, rules: FaultRule[]): FaultRule[] {
  ctx.store.data.faults = rules.map((r) => ({ ...r, id: r.id ?? randomUUID(), service: r.service ?? "*", method: (r.method ?? "*").toUpperCase() }));
  ctx.store.changed();
  return ctx.store.data.faults;
}

/**
 * The sandbox's own control routes, under /.sandbox/ on the ARM port (no ARM path starts so, so real clients never
 * reach them), for tests and `podid sandbox fault|settings|clock`: faults, delays, the sandbox clock, extra principals. Every call needs the admin key from the sandbox dir.
 */
export function adminHandler(ctx: CloudContext, adminKey: string): Handler {
  const updateSettings: Handler = (req) => {
    const body = JSON.parse(req.body.toString("utf8") || "{}") as Record<string, unknown>;
    const unknown = Object.keys(body).filter((k) => !(CHANGEABLE_SETTINGS as readonly string[]).includes(k));
    if (unknown.length) return json(400, { error: `unknown setting ${unknown.join(", ")}; known: ${CHANGEABLE_SETTINGS.join(", ")}` });
    for (const name of CHANGEABLE_SETTINGS) {
      const value = body[name];
      if (value === undefined) continue;
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > SETTING_LIMITS[name]) return json(400, { error: `${name} must be a number from 0 to ${SETTING_LIMITS[name]}` });
      ctx.store.data.settings[name] = value;
    }
    ctx.store.changed();
    return json(200, settingsOf(ctx.store.data));
  };
  const clock = () => ({ offsetSeconds: ctx.clock.offsetSeconds, now: new Date(ctx.clock.now()).toISOString() });
  const router = new Router()
    .add("GET", "/.sandbox/faults", () => json(200, ctx.store.data.faults))
    .add("PUT", "/.sandbox/faults", (req) => {
      const rules = JSON.parse(req.body.toString("utf8") || "[]") as unknown[];
      if (!Array.isArray(rules) || !rules.every(validRule)) return json(400, { error: "expected an array of fault rules {service, method, path, status?, retryAfterSeconds?, latencyMs?, drop?, count?}" });
      return json(200, setFaults(ctx, rules));
    })
    .add("POST", "/.sandbox/faults", (req) => {
      const rule = JSON.parse(req.body.toString("utf8") || "{}") as unknown;
      if (!validRule(rule)) return json(400, { error: "expected a fault rule {service, method, path, status?, retryAfterSeconds?, latencyMs?, drop?, count?}" });
      return json(200, setFaults(ctx, [...ctx.store.data.faults, rule]));
    })
    .add("DELETE", "/.sandbox/faults", () => json(200, setFaults(ctx, [])))
    .add("GET", "/.sandbox/settings", () => json(200, settingsOf(ctx.store.data)))
    .add("PUT", "/.sandbox/settings", updateSettings)
    .add("PATCH", "/.sandbox/settings", updateSettings)
    .add("GET", "/.sandbox/clock", () => json(200, clock()))
    .add("POST", "/.sandbox/clock", (req) => {
      const body = JSON.parse(req.body.toString("utf8") || "{}") as { advanceSeconds?: unknown };
      if (typeof body.advanceSeconds !== "number") return json(400, { error: "advanceSeconds must be a number >= 0: the clock only moves forward" });
      const refusal = clockAdvanceRefusal(ctx.clock.offsetSeconds, body.advanceSeconds);
      if (refusal) return json(400, { error: refusal });
      ctx.clock.advance(body.advanceSeconds);
      return json(200, clock());
    })
    .add("POST", "/.sandbox/principals", (req) => {
      const body = JSON.parse(req.body.toString("utf8") || "{}") as { displayName?: string };
      return json(201, addApplication(ctx, body.displayName ?? "sandbox-app"));
    });
  const routes = router.handler({ notFound: () => json(404, { error: "no such sandbox admin route" }), methodNotAllowed: () => json(405, { error: "method not allowed" }) });
  const expected = Buffer.from(adminKey);
  return async (req) => {
    const given = Buffer.from(String(req.headers[ADMIN_KEY_HEADER] ?? ""));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return json(401, { error: `missing or wrong ${ADMIN_KEY_HEADER}` });
    try {
      return await routes(req);
    } catch (err) {
      return json(400, { error: (err as Error).message });
    }
  };
}
