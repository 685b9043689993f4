/**
 * The one factory for Kubernetes `Status` failures, with kube-apiserver's reasons, codes and wording
 * (k8s.io/apimachinery/pkg/api/errors). Everything the server refuses goes through here.
 */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A resource as errors name it: `pods` for the core group, `deployments.apps` otherwise. */
export interface GroupResource {
  group: string;
  resource: string;
}

/** A kind as Invalid names it: `Pod`, `Deployment.apps`. */
export interface GroupKind {
  group: string;
  kind: string;
}

export class KubeError extends Error {
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
  }
  get code(): number {
    return this.status.code;
  }
}

/** Whether the API server refused with one of these HTTP codes (404 gone, 409 changed meanwhile, ...). */
export function isKubeStatus(err: unknown, ...codes: number[]): err is KubeError {
  return err instanceof KubeError && codes.includes(err.code);
}

function failure(code: number, reason: string | undefined, message: string, details?: StatusDetails): KubeError {
  const status: Status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, code };
  if (reason) status.reason = reason;
  if (details) status.details = details;
  return new KubeError(status);
}

export function qualifiedResource(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

function qualifiedKind(gk: GroupKind): string {
  return gk.group ? `${gk.kind}.${gk.group}` : gk.kind;
}

function resourceDetails(gr: GroupResource, name?: string): StatusDetails {
  const details: StatusDetails = {};
  if (name !== undefined && name !== "") details.name = name;
  if (gr.group) details.group = gr.group;
  details.kind = gr.resource;
  return details;
}

export const Errors = {
  notFound: (gr: GroupResource, name: string) =>
    failure(404, "NotFound", `${qualifiedResource(gr)} "${name}" not found`, resourceDetails(gr, name)),

  /** A path the server does not serve (no such group, version or resource). */
  pathNotFound: () => failure(404, "NotFound", "the server could not find the requested resource", {}),

  alreadyExists: (gr: GroupResource, name: string) =>
    failure(409, "AlreadyExists", `${qualifiedResource(gr)} "${name}" already exists`, resourceDetails(gr, name)),

  conflict: (gr: GroupResource, name: string, why: string) =>
    failure(409, "Conflict", `Operation cannot be fulfilled on ${qualifiedResource(gr)} "${name}": ${why}`, resourceDetails(gr, name)),

  staleResourceVersion: (gr: GroupResource, name: string) =>
    Errors.conflict(gr, name, "the object has been modified; please apply your changes to the latest version and try again"),

  /** Server-side apply conflicts between field managers (message built by the apply module). */
  applyConflict: (message: string, causes: StatusCause[]) => failure(409, "Conflict", message, { causes }),

  invalid: (gk: GroupKind, name: string, causes: FieldError[]) => {
    const rendered = causes.map(renderFieldError);
    const list = rendered.length === 1 ? rendered[0] : `[${rendered.join(", ")}]`;
    const details: StatusDetails = { name };
    if (gk.group) details.group = gk.group;
    details.kind = gk.kind;
    details.causes = causes.map((c) => ({ reason: c.type, message: renderFieldError({ ...c, field: "" }).replace(/^: /, ""), field: c.field }));
    return failure(422, "Invalid", `${qualifiedKind(gk)} "${name}" is invalid: ${list}`, details);
  },

  forbidden: (gr: GroupResource, name: string | undefined, why: string) => {
    const subject = name ? `${qualifiedResource(gr)} "${name}"` : qualifiedResource(gr);
    return failure(403, "Forbidden", `${subject} is forbidden: ${why}`, resourceDetails(gr, name));
  },

  /** RBAC refusal of a non-resource URL: `forbidden: User "x" cannot get path "/metrics"`. */
  forbiddenPath: (why: string) => failure(403, "Forbidden", `forbidden: ${why}`, {}),

  unauthorized: () => failure(401, "Unauthorized", "Unauthorized"),

  badRequest: (message: string) => failure(400, "BadRequest", message),

  /** A mutating webhook's refusal, as kube-apiserver relays it (ToStatusErr): the webhook's code and message, no reason. */
  admissionDenied: (webhook: string, code: number, message: string) => failure(code, undefined, `admission webhook "${webhook}" denied the request: ${message}`),

  methodNotAllowed: () => failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}),

  unsupportedMediaType: (contentType: string, accepted: string[]) =>
    failure(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
      contentType ? {} : undefined,
    ),

  notAcceptable: (accepted: string[]) =>
    failure(406, "NotAcceptable", `only the following media types are accepted: ${accepted.join(", ")}`),

  /** A watch or list from a resourceVersion the bounded history no longer holds. */
  expired: (message: string) => failure(410, "Expired", message),

  gone: (message: string) => failure(410, "Gone", message),

  internal: (message: string) =>
    failure(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] }),
} as const;

/** A field validation failure (k8s.io/apimachinery/pkg/util/validation/field). */
export interface FieldError {
  type: "FieldValueInvalid" | "FieldValueRequired" | "FieldValueNotSupported" | "FieldValueDuplicate" | "FieldValueForbidden" | "FieldValueTypeInvalid" | "FieldValueNotFound";
  field: string;
  value?: unknown;
  detail?: string;
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined || value === null) return "null";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `field: Invalid value: "X": detail`, as field.Error.Error() prints it. */
export function renderFieldError(e: FieldError): string {
  const prefix = e.field ? `${e.field}: ` : ": ";
  switch (e.type) {
    case "FieldValueRequired":
      return `${prefix}Required value${e.detail ? `: ${e.detail}` : ""}`;
    case "FieldValueForbidden":
      return `${prefix}Forbidden${e.detail ? `: ${e.detail}` : ""}`;
    case "FieldValueDuplicate":
      return `${prefix}Duplicate value: ${renderValue(e.value)}`;
    case "FieldValueNotFound":
      return `${prefix}Not found: ${renderValue(e.value)}`;
    case "FieldValueNotSupported":
      return `${prefix}Unsupported value: ${renderValue(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
    case "FieldValueTypeInvalid":
      return `${prefix}Invalid value: ${renderValue(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
    default:
      return `${prefix}Invalid value: ${renderValue(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
  }
}
