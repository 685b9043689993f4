import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SECRET_FILE_MODE, writeFileAtomic } from "../../util/files.js";
import { requestLogLine, serve, type RequestLine, type RunningServer } from "../http/server.js";
import { json, type Handler, type SandboxRequest, type SandboxResponse } from "../http/types.js";
import type { JWK } from "jose";
import { SandboxClock } from "../clock.js";
import { JsonStore } from "../store.js";
import { ADMIN_PREFIX, adminHandler, setFaults } from "./admin.js";
import { armHandler } from "./arm.js";
import { ArmErrors } from "./arm-errors.js";
import type { CloudContext, CloudEndpoints } from "./context.js";
import { entraErrors } from "./entra-errors.js";
import { withFaults } from "./faults.js";
import { EntraHandlers } from "./handlers/entra.js";
import { clusterIdentityProfile, CLUSTER_TYPE } from "./handlers/containerservice.js";
import { ImdsHandlers } from "./handlers/imds.js";
import { OidcIssuerHandlers } from "./handlers/oidc-issuer.js";
import type { AzureState, FaultRule, SeedInfo } from "./model.js";
import { findResourceIn, providerId } from "./scopes.js";
import { seedState } from "./seed.js";
import { settingsOf } from "./settings.js";
import { TokenService } from "./tokens.js";

export { planTopology } from "./seed.js";

export interface StartAzureCloudOptions {
  /** State in <dir>/state/azure.json, signing key and admin key beside it (all 0600). */
  dir: string;
  host: string;
  /** 0 picks a free port; imds has one port per node, in node order. */
  ports: { entra: number; arm: number; imds: number[]; oidcIssuer?: number };
  tls: { cert: string; key: string };
  /** The CA Entra ID trusts when it fetches an issuer's documents over HTTPS (the sandbox CA); default: Node's. */
  trustedCa?: string;
  /** Called only when there is no state yet. */
  seed: () => SeedInfo;
  log?: (line: string) => void;
}

export interface AzureCloud {
  endpoints: CloudEndpoints;
  state: AzureState;
  seed: SeedInfo;
  adminKey: string;
  cliCredential: { tenantId: string; clientId: string; clientSecret: string; subscriptionId: string };
  context: CloudContext;
  /** The sandbox clock, persisted with the cloud; the API server and kubelet share it. */
  clock: SandboxClock;
  setFaults(rules: FaultRule[]): void;
  setReplicationDelay(seconds: number): void;
  /** The seeded AKS cluster's OIDC issuer (when enabled) and whether workload identity is on, read live. */
  clusterIdentity(): { issuerURL?: string; workloadIdentity: boolean };
  /** Publishes the cluster's service-account signing keys at its OIDC issuer URL (AKS uploads them). */
  publishIssuerKeys(keys: JWK[]): void;
  close(): Promise<void>;
}

export function adminKeyPath(dir: string): string {
  return join(dir, "state", "admin-key");
}

function loadOrCreateAdminKey(dir: string): string {
  const path = adminKeyPath(dir);
  if (existsSync(path)) return readFileSync(path, "utf8").trim();
  const keyValue = randomBytes(24).toString("base64url");
  writeFileAtomic(path, keyValue, SECRET_FILE_MODE);
  return keyValue;
}

/** Starts Entra ID, ARM and the clusters' OIDC issuer host (HTTPS) and one IMDS per node (HTTP), sharing one persisted world. */
export async function startAzureCloud(options: StartAzureCloudOptions): Promise<AzureCloud> {
  const log = options.log ?? (() => undefined);
  const store = new JsonStore<AzureState>(join(options.dir, "state", "azure.json"), () => seedState(options.seed()));
  const state = store.data;
  const adminKey = loadOrCreateAdminKey(options.dir);
  const servers: RunningServer[] = [];
  const endpoints: CloudEndpoints = { entra: "", arm: "", armResourceId: "", imds: {}, oidcIssuer: "" };
  let tokens: TokenService | undefined;
  const clock = new SandboxClock(settingsOf(state).clockOffsetSeconds * 1000);
  clock.onAdvance(() => {
    state.settings.clockOffsetSeconds = clock.offsetSeconds;
    store.changed();
  });
  const ctx: CloudContext = {
    store,
    get tokens() {
      return tokens!;
    },
    endpoints,
    clock,
    now: () => clock.now(),
    trustedCa: options.trustedCa,
    log,
  };
  const issuer = new OidcIssuerHandlers(ctx);
  const onRequest = (service: string) => (l: RequestLine) => log(requestLogLine(service, l));
  // IMDS's log names every request as it arrived (raw target, caller): what reached it, and from where.
  const onImdsRequest = (service: string) => (l: RequestLine) => log(requestLogLine(service, l, true));
  const crash = (body: (err: unknown) => SandboxResponse) => (err: unknown, req: SandboxRequest) => {
    log(`error serving ${req.method} ${req.path}: ${(err as Error)?.stack ?? err}`);
    return body(err);
  };
  try {
    const entra = await serve(withFaults("entra", ctx, new EntraHandlers(ctx).handler()), {
      host: options.host,
      port: options.ports.entra,
      tls: options.tls,
      onRequest: onRequest("entra"),
      onError: crash(() => entraErrors(() => ctx.now()).serverError()),
    });
    servers.push(entra);
    endpoints.entra = entra.url;
    tokens = await TokenService.open(join(options.dir, "state", "signing-key.json"), state.tenantId, entra.url);

    const arm = armHandler(ctx);
    const admin = adminHandler(ctx, adminKey);
    const armWithFaults = withFaults("arm", ctx, arm);
    const armServer = await serve((req) => (req.path.startsWith(ADMIN_PREFIX) ? admin(req) : armWithFaults(req)), {
      host: options.host,
      port: options.ports.arm,
      tls: options.tls,
      onRequest: onRequest("arm"),
      onError: crash(() => ArmErrors.serverError(500)),
    });
    servers.push(armServer);
    endpoints.arm = armServer.url;
    endpoints.armResourceId = `${armServer.url}/`;

    const issuerServer = await serve(withFaults("oidc", ctx, issuer.handler()), {
      host: options.host,
      port: options.ports.oidcIssuer ?? 0,
      tls: options.tls,
      onRequest: onRequest("oidc-issuer"),
      onError: crash(() => ({ status: 500, body: "internal error" })),
    });
    servers.push(issuerServer);
    endpoints.oidcIssuer = issuerServer.url;

    const nodesByPort = new Map<number, SeedInfo["nodes"][number]>();
    const imds: Handler = withFaults("imds", ctx, new ImdsHandlers(ctx, (port) => nodesByPort.get(port)).handler());
    for (const [i, node] of state.seed.nodes.entries()) {
      const server = await serve(imds, {
        host: options.host,
        port: options.ports.imds[i] ?? 0,
        onRequest: onImdsRequest(`imds[${node.name}]`),
        onError: crash(() => json(500, { error: "unknown", error_description: "internal error" })),
      });
      servers.push(server);
      nodesByPort.set(server.port, node);
      endpoints.imds[node.name] = server.url;
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    store.flush();
    throw err;
  }

  const cli = state.principals[state.seed.cliPrincipalId];
  const clusterId = providerId(state.seed.subscriptionId, state.seed.resourceGroup, CLUSTER_TYPE, state.seed.clusterName);
  return {
    endpoints,
    state,
    seed: state.seed,
    adminKey,
    context: ctx,
    clock,
    clusterIdentity: () => clusterIdentityProfile(findResourceIn(state, clusterId)),
    publishIssuerKeys: (keys) => issuer.publish(clusterId, keys),
    cliCredential: { tenantId: state.tenantId, clientId: cli.appId, clientSecret: cli.secret!, subscriptionId: state.seed.subscriptionId },
    setFaults: (rules) => void setFaults(ctx, rules),
    setReplicationDelay: (seconds) => {
      state.settings.replicationDelaySeconds = seconds;
      store.changed();
    },
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
      store.flush();
    },
  };
}
