import { json, type SandboxResponse } from "../http/types.js";

/**
 * ARM's error bodies, `{"error":{"code","message"}}`, with the status codes and wording real ARM uses. Tests
 * import this factory as their expectation, so the two cannot drift apart.
 */
export function armError(status: number, code: string, message: string, headers: Record<string, string> = {}): SandboxResponse {
  return json(status, { error: { code, message } }, headers);
}

/** ARM refuses more user-assigned identity changes than this in one request (aad-pod-identity #813). */
export const MAX_IDENTITIES_PER_REQUEST = 150;

function identityOperationFailed(targetId: string, inner: string): SandboxResponse {
  const response = JSON.stringify({ error: { code: "BadRequest", message: inner } });
  return armError(
    400,
    "FailedIdentityOperation",
    `Identity operation for resource '${targetId}' failed with error 'Failed to perform resource identity operation. Status: 'BadRequest'. Response: '${response}'.'.`,
  );
}

/** The WWW-Authenticate challenge ARM sends with every 401, naming the authority to get a token from. */
function challenge(authorizationUri: string, description: string): Record<string, string> {
  return { "www-authenticate": `Bearer authorization_uri="${authorizationUri}", error="invalid_token", error_description="${description}"` };
}

/** ARM words times in its messages the .NET en-US way: 1/16/2020 3:37:26 AM. */
function usDateTime(d: Date): string {
  const h = d.getUTCHours() % 12 || 12;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? "AM" : "PM"}`;
}

const NOT_FOUND_FIX = "For more details please go to https://aka.ms/ARMResourceNotFoundFix";

export const ArmErrors = {
  missingAuthorization: (authorizationUri: string) =>
    armError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", challenge(authorizationUri, "The authentication failed because of missing 'Authorization' header.")),
  unsupportedScheme: (authorizationUri: string) =>
    armError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format.", challenge(authorizationUri, "The authentication failed because of invalid 'Authorization' header.")),
  invalidToken: (authorizationUri: string) =>
    armError(401, "InvalidAuthenticationToken", "The access token is invalid.", challenge(authorizationUri, "The access token is invalid.")),
  wrongAudience: (authorizationUri: string, audience: string, allowed: string[]) =>
    armError(
      401,
      "InvalidAuthenticationToken",
      `The access token has been obtained for wrong audience or resource '${audience}'. It should exactly match with one of the allowed audiences ${allowed.map((a) => `'${a}'`).join(",")}.`,
      challenge(authorizationUri, "The access token has been obtained for wrong audience or resource."),
    ),
  wrongIssuer: (authorizationUri: string, issuer: string, expectedIssuer: string) =>
    armError(
      401,
      "InvalidAuthenticationTokenTenant",
      `The access token is from the wrong issuer '${issuer}'. It must match the tenant '${expectedIssuer}' associated with this subscription. Please use the authority (URL) '${authorizationUri}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`,
      challenge(authorizationUri, "The access token is from the wrong issuer."),
    ),
  expiredToken: (authorizationUri: string, expiredAt: Date, now: Date) =>
    armError(
      401,
      "ExpiredAuthenticationToken",
      `The access token expiry UTC time '${usDateTime(expiredAt)}' is earlier than current UTC time '${usDateTime(now)}'.`,
      challenge(authorizationUri, "The access token expiry UTC time is earlier than current UTC time."),
    ),
  authorizationFailed: (principalId: string, action: string, scope: string) =>
    armError(
      403,
      "AuthorizationFailed",
      `The client '${principalId}' with object id '${principalId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    ),
  linkedAuthorizationFailed: (principalId: string, action: string, scope: string, linkedAction: string, linkedScopes: string[]) =>
    armError(
      403,
      "LinkedAuthorizationFailed",
      `The client '${principalId}' with object id '${principalId}' has permission to perform action '${action}' on scope '${scope}'; however, it does not have permission to perform action(s) '${linkedAction}' on the linked scope(s) '${linkedScopes.join(",")}' (respectively) or the linked scope(s) are invalid.`,
    ),
  missingApiVersion: () =>
    armError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."),
  /** An api-version ARM cannot read (not a date, or no such day): its own refusal, newest supported version first. */
  invalidApiVersionParameter: (version: string, supported: string[]) =>
    armError(400, "InvalidApiVersionParameter", `The api-version '${version}' is invalid. The supported versions are '${[...supported].sort().reverse().join(",")}'.`),
  invalidApiVersion: (version: string, type: string, supported: string[]) =>
    armError(
      400,
      "NoRegisteredProviderFound",
      `No registered resource provider found for location 'eastus' and API version '${version}' for type '${type}'. The supported api-versions are '${supported.join(", ")}'. The supported locations are 'eastus'.`,
    ),
  subscriptionNotFound: (subscriptionId: string) =>
    armError(404, "SubscriptionNotFound", `The subscription '${subscriptionId}' could not be found.`),
  invalidSubscriptionId: (subscriptionId: string) =>
    armError(400, "InvalidSubscriptionId", `The provided subscription identifier '${subscriptionId}' is malformed or invalid.`),
  resourceGroupNotFound: (group: string) => armError(404, "ResourceGroupNotFound", `Resource group '${group}' could not be found.`),
  resourceNotFound: (typeWithName: string, group: string) =>
    armError(404, "ResourceNotFound", `The Resource '${typeWithName}' under resource group '${group}' was not found. ${NOT_FOUND_FIX}`),
  parentResourceNotFound: (parentName: string) =>
    armError(404, "ParentResourceNotFound", `Can not perform requested operation on nested resource. Parent resource '${parentName}' not found.`),
  invalidResourceName: (name: string, maxLength = 128) =>
    armError(400, "InvalidResourceName", `Resource name ${name} is invalid. The name can be up to ${maxLength} characters long. It can contain only alphanumeric characters, dashes and underscores. The first character must be alphanumeric.`),
  invalidResourceGroupName: (name: string, invalidCharacters: string) =>
    invalidCharacters
      ? armError(400, "InvalidResourceGroupName", `The provided resource group name '${name}' has these invalid characters: '${invalidCharacters}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.`)
      : armError(400, "InvalidResourceGroupName", "Resource group names only allow alphanumeric characters, periods, underscores, hyphens and parenthesis and cannot end in a period."),
  invalidRequestContent: (detail: string) =>
    armError(400, "InvalidRequestContent", `The request content was invalid and could not be deserialized: '${detail}'.`),
  unsupportedMediaType: (contentType: string) =>
    armError(415, "UnsupportedMediaType", `The content media type '${contentType}' is not supported. Only 'application/json' is supported.`),
  locationRequired: () => armError(400, "LocationRequired", "The location property is required for this definition."),
  invalidResourceType: (namespace: string, type: string, apiVersion: string) =>
    armError(400, "InvalidResourceType", `The resource type '${type}' could not be found in the namespace '${namespace}' for api version '${apiVersion}'.`),
  invalidResourceNamespace: (namespace: string) => armError(400, "InvalidResourceNamespace", `The resource namespace '${namespace}' is invalid.`),
  /** A path ARM cannot parse as a resource id at all. */
  noRegisteredProvider: (path: string) => armError(404, "NotFound", `The requested resource '${path}' was not found.`),
  /** A resource id inside a request body (roleDefinitionId, identity keys) that is not a fully qualified id. */
  linkedInvalidPropertyId: (value: string, path: string) =>
    armError(
      400,
      "LinkedInvalidPropertyId",
      `Property id '${value}' at path '${path}' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'.`,
    ),
  /** Creating what the sandbox does not emulate fails loudly instead of pretending to succeed. */
  notEmulated: (what: string) => armError(501, "NotImplemented", `The podid sandbox does not emulate ${what}.`),
  methodNotAllowed: (method: string) => armError(405, "MethodNotAllowed", `The requested resource does not support http method '${method}'.`),
  invalidRoleAssignmentId: (name: string) =>
    armError(400, "InvalidRoleAssignmentId", `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`),
  roleAssignmentExists: () => armError(409, "RoleAssignmentExists", "The role assignment already exists."),
  roleAssignmentUpdateNotPermitted: () =>
    armError(400, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated."),
  roleAssignmentNotFound: (name: string) => armError(404, "RoleAssignmentNotFound", `The role assignment '${name}' is not found.`),
  principalNotFound: (principalId: string, tenantId: string) =>
    armError(
      400,
      "PrincipalNotFound",
      `Principal ${principalId.replace(/-/g, "")} does not exist in the directory ${tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
    ),
  /** 404 when the definition itself is asked for; 400 when a role assignment names it. */
  roleDefinitionDoesNotExist: (id: string, status: 400 | 404 = 404) =>
    armError(status, "RoleDefinitionDoesNotExist", `The specified role definition with ID '${id}' does not exist.`),
  roleDefinitionHasAssignments: () =>
    armError(409, "RoleDefinitionHasAssignments", "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments)."),
  invalidRoleDefinitionId: (id: string) =>
    armError(400, "InvalidRoleDefinitionId", `The role definition ID '${id}' is not valid.`),
  invalidFilter: (filter: string) => armError(400, "UnsupportedQuery", `The filter '${filter}' is not supported.`),
  invalidPrincipalId: () => armError(400, "InvalidPrincipalId", "A valid principal ID must be provided for role assignment."),
  /** Compute relays the managed identity service's own error inside its message, quoted as it is. */
  identityNotFound: (targetId: string, identityId: string) => identityOperationFailed(targetId, `Resource '${identityId}' was not found.`),
  tooManyIdentities: (targetId: string, count: number) =>
    identityOperationFailed(targetId, `User Assigned Identities Number '${count}' Assign exceed limit '${MAX_IDENTITIES_PER_REQUEST}' in one request.`),
  invalidIdentityType: (type: string) =>
    armError(400, "InvalidIdentityType", `The identity type '${type}' is not valid. Valid values are 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned', 'None'.`),
  /**
   * AKS's refusal of a body Go's encoding/json cannot decode into its model (a string where a boolean belongs):
   * the resource provider's UnmarshalError, naming the JSON type given, the model's struct and field path, and the
   * type it wanted.
   */
  aksUnmarshalError: (given: string, struct: string, path: string, wanted: string) =>
    armError(
      400,
      "UnmarshalError",
      `UnmarshalEntity encountered error: json: cannot unmarshal ${given} into Go struct field ${struct}.${path} of type ${wanted}. Check that the field is in the right location, is spelled correctly, and is supported in the API version. Visit aka.ms/aks/apiversions for more API version information..`,
    ),
  oidcIssuerCannotBeDisabled: () => armError(400, "BadRequest", "OIDC issuer feature cannot be disabled once it is enabled."),
  workloadIdentityNeedsOidcIssuer: () =>
    armError(400, "BadRequest", "Enabling workload identity requires enabling the OIDC issuer: set properties.oidcIssuerProfile.enabled to true."),
  /** A federated identity credential body the managed identity service cannot use. */
  invalidFederatedCredential: (detail: string) => armError(400, "BadRequest", `The request format was unexpected. ${detail}`),
  federatedCredentialExists: () => armError(400, "BadRequest", "Issuer and subject combination already exists for this Managed Identity."),
  tooManyFederatedCredentials: (identityId: string, max: number) =>
    armError(
      400,
      "BadRequest",
      `Too many Federated Identity Credentials for the managed identity '${identityId.toLowerCase()}'. A managed identity can have at most ${max} Federated Identity Credentials.`,
    ),
  concurrentFederatedCredentialWrites: (identityId: string) =>
    armError(
      409,
      "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
      `Too many Federated Identity Credentials are written concurrently for the managed identity '${identityId.toLowerCase()}'. Concurrent Federated Identity Credentials writes under the same managed identity are not supported.`,
    ),
  tooManyRequests: (retryAfterSeconds: number) =>
    armError(429, "TooManyRequests", `The request is being throttled. Retry after ${retryAfterSeconds} seconds.`, { "retry-after": String(retryAfterSeconds) }),
  serverError: (status: number) =>
    status === 503
      ? armError(503, "ServiceUnavailable", "The service is temporarily unavailable. Please retry the request.", { "retry-after": "1" })
      : armError(status, "InternalServerError", "Encountered internal server error. Diagnostic information: timestamp '" + new Date().toISOString() + "'."),
};
