import https from "node:https";
import tls from "node:tls";
import type { JWK } from "jose";
import { discoveryUrlOf, type JwkSet, type OidcDiscovery } from "../oidc.js";

/** How long Entra ID waits for an external issuer, and how much it reads. */
const TIMEOUT_MS = 10_000;
const MAX_BYTES = 256 * 1024;

/**
 * A JSON document over HTTPS only, as Entra ID fetches an issuer's metadata; undefined on any failure. The public
 * CAs are trusted, and the sandbox's own CA besides.
 */
function getJson(url: string, extraCa: string | undefined): Promise<unknown> {
  const ca = extraCa ? [...tls.rootCertificates, extraCa] : undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.resolve(undefined);
  }
  if (parsed.protocol !== "https:") return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const req = https.get(parsed, { ca, timeout: TIMEOUT_MS, headers: { accept: "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (d: Buffer) => {
        size += d.length;
        if (size > MAX_BYTES) req.destroy();
        else chunks.push(d);
      });
      res.on("end", () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown);
        } catch {
          resolve(undefined);
        }
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

/**
 * The signing keys of an external issuer, found the way Entra ID finds them: its discovery document at
 * `<issuer>/.well-known/openid-configuration`, whose `issuer` must be exactly the one asked for, then the
 * `jwks_uri` it names (HTTPS). Undefined when any step fails (Entra ID's AADSTS90061).
 */
export async function fetchIssuerKeys(issuer: string, ca: string | undefined): Promise<JWK[] | undefined> {
  const discovery = (await getJson(discoveryUrlOf(issuer), ca)) as Partial<OidcDiscovery> | undefined;
  if (!discovery || discovery.issuer !== issuer || typeof discovery.jwks_uri !== "string") return undefined;
  const jwks = (await getJson(discovery.jwks_uri, ca)) as Partial<JwkSet> | undefined;
  return Array.isArray(jwks?.keys) ? jwks.keys : undefined;
}
