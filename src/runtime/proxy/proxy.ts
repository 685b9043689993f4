import http from "node:http";
import { readFile } from "node:fs/promises";
import { ClientAssertionCredential } from "@azure/identity";
import { isKnownAuthority } from "../../azure/cloud.js";
import type { Logger } from "../../util/logger.js";

/**
 * `podid runtime proxy`: azure-workload-identity's proxy sidecar for applications that only speak IMDS. Its
 * proxy-init container sends the pod's 169.254.169.254:80 traffic here; token requests
 * (`/metadata/identity/oauth2/token`, "metadata" in any case) are answered by exchanging the pod's projected
 * service-account token with Entra ID for the asked client id (else AZURE_CLIENT_ID), shaped as IMDS answers;
 * `/readyz` says ok; anything else is passed to the real instance metadata service. It listens on localhost only:
 * no other pod may use this pod's identity.
 */

export interface ProxyEnvironment {
  tenantId: string;
  authorityHost: string;
  tokenFile: string;
  /** The client id when a request names none. */
  defaultClientId?: string;
  /** The real IMDS, for everything but tokens (the proxy's own traffic is exempt from the redirect). */
  metadataUrl: string;
}

/** Upstream's checks: it cannot run without a tenant and an authority host. */
export function proxyEnvironment(env: NodeJS.ProcessEnv): ProxyEnvironment | { missing: string } {
  if (!env.AZURE_TENANT_ID) return { missing: "AZURE_TENANT_ID" };
  if (!env.AZURE_AUTHORITY_HOST) return { missing: "AZURE_AUTHORITY_HOST" };
  return {
    tenantId: env.AZURE_TENANT_ID,
    authorityHost: env.AZURE_AUTHORITY_HOST,
    tokenFile: env.AZURE_FEDERATED_TOKEN_FILE ?? "",
    defaultClientId: env.AZURE_CLIENT_ID || undefined,
    // On a node, 169.254.169.254; podid's runtime reaches it through AZURE_POD_IDENTITY_AUTHORITY_HOST where set.
    metadataUrl: (env.AZURE_POD_IDENTITY_AUTHORITY_HOST ?? "http://169.254.169.254").replace(/\/+$/, ""),
  };
}

const TOKEN_PATH = /^\/metadata\/identity\/oauth2\/token/i;

/** A v1 resource as a v2 scope, as upstream's getScope does (a resource ending in "/" keeps it: "x//.default"). */
export function scopeOf(resource: string): string {
  return resource.endsWith("/.default") ? resource : `${resource}/.default`;
}

function text(res: http.ServerResponse, status: number, body: string): void {
  // http.Error's shape: plain text, a trailing newline, no sniffing.
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
  res.end(`${body}\n`);
}

export interface RunningProxy {
  url: string;
  close(): Promise<void>;
}

export async function startProxy(options: { port: number; env: ProxyEnvironment; logger: Logger; host?: string }): Promise<RunningProxy> {
  const { env, logger } = options;
  const credentials = new Map<string, ClientAssertionCredential>();
  const credentialFor = (clientId: string) => {
    let credential = credentials.get(clientId);
    if (!credential) {
      // The assertion is read at each exchange: the kubelet rotates the file.
      credential = new ClientAssertionCredential(env.tenantId, clientId, () => readFile(env.tokenFile, "utf8").then((t) => t.trim()), {
        authorityHost: env.authorityHost,
        disableInstanceDiscovery: !isKnownAuthority(env.authorityHost),
      });
      credentials.set(clientId, credential);
    }
    return credential;
  };

  const token = async (req: http.IncomingMessage, url: URL, res: http.ServerResponse) => {
    logger.info(`received token request method=${req.method} path=${url.pathname}`);
    const clientId = url.searchParams.get("client_id") || env.defaultClientId || "";
    const resource = url.searchParams.get("resource") ?? "";
    if (!clientId) return text(res, 400, "The client_id parameter or AZURE_CLIENT_ID environment variable must be set");
    if (!resource) return text(res, 400, "The resource parameter is required.");
    try {
      const answer = await credentialFor(clientId).getToken(scopeOf(resource));
      const expiresOn = Math.floor(answer.expiresOnTimestamp / 1000);
      logger.info(`successfully acquired token method=${req.method} path=${url.pathname} clientID=${clientId}`);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          access_token: answer.token,
          refresh_token: "",
          expires_in: Math.max(0, expiresOn - Math.floor(Date.now() / 1000) - 10),
          expires_on: String(expiresOn),
          not_before: 0,
          resource,
          token_type: "Bearer",
        }) + "\n",
      );
    } catch (err) {
      const message = `failed to acquire token: ${(err as Error).message.replace(/\s*\n\s*/g, " ")}`;
      logger.warn(message);
      text(res, 500, message);
    }
  };

  const forward = async (req: http.IncomingMessage, url: URL, res: http.ServerResponse, self: string) => {
    const target = new URL(`${url.pathname}${url.search}`, env.metadataUrl);
    if (target.host === self) return text(res, 502, "the metadata endpoint is this proxy: its own traffic must be exempt from the redirect");
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks)));
    });
    const upstream = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      logger.info(`received response from IMDS method=${req.method} path=${url.pathname} status=${answer.statusCode}`);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", (err) => text(res, 500, err.message));
    upstream.end(body);
  };

  let self = "";
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy.invalid");
    if (TOKEN_PATH.test(url.pathname)) return void token(req, url, res);
    if (url.pathname.startsWith("/readyz")) return text(res, 200, "ok");
    void forward(req, url, res, self);
  });
  const host = options.host ?? "localhost";
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(options.port, host, () => resolve()));
  const address = server.address() as import("node:net").AddressInfo;
  self = `${address.address}:${address.port}`;
  logger.info(`starting the proxy server port=${address.port}`);
  return {
    url: `http://${address.address}:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `--probe`: the postStart hook's check that the proxy answers /readyz (7 tries, a second apart). */
export async function probeProxy(port: number, host = "localhost"): Promise<boolean> {
  for (let i = 0; i < 7; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host, port, path: "/readyz", timeout: 5000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}
