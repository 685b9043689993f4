import { randomUUID } from "node:crypto";
import { json, type SandboxResponse } from "../http/types.js";

/**
 * Entra ID's OAuth error bodies: `error`, an `error_description` that starts with the AADSTS code and ends with
 * the trace/correlation ids and timestamp, and `error_codes`. Clients (MSAL) surface error_description verbatim.
 * The timestamp is Entra ID's time: the sandbox clock's.
 */
function entraErrorAt(nowMs: number, status: number, error: string, aadsts: number, description: string): SandboxResponse {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date(nowMs).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  return json(status, {
    error,
    error_description: `AADSTS${aadsts}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${aadsts}`,
  });
}

/** Entra ID's times in assertion errors: ISO 8601 with seven fractional digits (.NET's "o" format). */
function entraTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "0000Z");
}

const FEDERATION_DOC = "https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation";

/** Entra ID's errors, stamped with the time of `now` (the sandbox clock). */
export function entraErrors(now: () => number) {
  const entraError = (status: number, error: string, aadsts: number, description: string) => entraErrorAt(now(), status, error, aadsts, description);
  return {
    tenantNotFound: (tenant: string) =>
      entraError(
        400,
        "invalid_request",
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      ),
    missingParameter: (name: string) =>
      entraError(400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`),
    unsupportedGrant: (grant: string) =>
      entraError(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grant}'.`),
    applicationNotFound: (appId: string, tenant: string) =>
      entraError(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${appId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      ),
    invalidSecret: (appId: string) =>
      entraError(
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${appId}'.`,
      ),
    invalidScope: (scope: string) =>
      entraError(
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      ),
    /** Neither a secret nor an assertion: what a confidential client must present. */
    missingClientCredential: () =>
      entraError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
    unexpectedAssertionType: () => entraError(400, "invalid_request", 90011, "Unexpected client assertion type."),
    malformedAssertion: () => entraError(400, "invalid_request", 50027, "JWT token is invalid or malformed."),
    /** No federated identity credential of the application matches the assertion's issuer, subject and audience exactly. */
    noMatchingFederatedIdentity: (issuer: string, subject: string, audience: string) =>
      entraError(
        401,
        "invalid_client",
        70021,
        `No matching federated identity record found for presented assertion. Assertion Issuer: '${issuer}'. Assertion Subject: '${subject}'. Assertion Audience: '${audience}'. ${FEDERATION_DOC}`,
      ),
    /** An assertion Entra ID itself issued: federation is for external issuers only. */
    entraIssuedAssertion: () => entraError(400, "invalid_request", 700222, "AAD-issued tokens may not be used for federated identity flows."),
    /** The issuer's OIDC discovery document or JWKS could not be fetched (or did not make sense). */
    externalOidcEndpointFailed: () => entraError(400, "invalid_request", 90061, "Request to External OIDC endpoint failed."),
    signingKeyNotFound: (kid: string, issuer: string) =>
      entraError(
        401,
        "invalid_client",
        7000272,
        `The certificate with identifier ${kid} used to sign the federated credential could not be found in the metadata of identity provider ${issuer}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.`,
      ),
    assertionSignatureInvalid: (kid: string) =>
      entraError(
        401,
        "invalid_client",
        50013,
        `Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${kid}']`,
      ),
    /** Expired, or not valid yet: Entra ID names its time and the assertion's window. */
    assertionOutsideValidTime: (nowMs: number, notBeforeMs: number, expiresMs: number) =>
      entraError(
        401,
        "invalid_client",
        700024,
        `Client assertion is not within its valid time range. Current time: ${entraTime(nowMs)}, assertion valid from ${entraTime(notBeforeMs)}, expiry time of assertion ${entraTime(expiresMs)}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
      ),
    /** What Entra ID answers when it fails or throttles (fault rules, an unexpected error). */
    temporarilyUnavailable: (status: number) => entraError(status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."),
    requestLoop: () => entraError(429, "temporarily_unavailable", 50196, "The server terminated an operation because it encountered a client request loop."),
    serverError: () => entraError(500, "server_error", 90033, "A transient error has occurred. Please try again."),
    methodNotAllowed: () => entraError(405, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request."),
    notFound: () => ({ status: 404, headers: { "content-type": "text/html" }, body: "<html><body>Not Found</body></html>" }),
  };
}

export type EntraErrors = ReturnType<typeof entraErrors>;

