/**
 * Redaction by allowlist: only names known to be harmless are shown; every other header value, query value
 * and JSON field that could carry a secret is replaced. Used by every log line podid writes.
 */
const SAFE_HEADERS = new Set([
  "accept",
  "content-type",
  "content-length",
  "user-agent",
  "x-ms-client-request-id",
  "x-ms-request-id",
  "x-ms-correlation-request-id",
  "x-ms-routing-request-id",
  "retry-after",
  "location",
  "azure-asyncoperation",
  "date",
  "metadata",
  "www-authenticate",
]);

const SAFE_QUERY = new Set([
  "api-version",
  "$filter",
  "$expand",
  "$top",
  "resource",
  "client_id",
  "object_id",
  "msi_res_id",
  "mi_res_id",
  "labelselector",
  "fieldselector",
  "watch",
  "resourceversion",
  "limit",
  "continue",
  "fieldmanager",
  "force",
]);

/** JSON keys whose values are secrets wherever they appear. */
const SECRET_KEYS = /^(access_token|refresh_token|id_token|client_secret|clientsecret|password|secret|token|client_assertion|authorization)$/i;

export const REDACTED = "REDACTED";

export function redactHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = SAFE_HEADERS.has(name.toLowerCase()) ? String(value) : REDACTED;
  }
  return out;
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    for (const key of [...parsed.searchParams.keys()]) {
      if (!SAFE_QUERY.has(key.toLowerCase())) parsed.searchParams.set(key, REDACTED);
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

/** Deep copy of a JSON value with secret-named fields replaced. */
export function redactJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_KEYS.test(k) ? REDACTED : redactJson(v)]),
    );
  }
  return value;
}

/** Removes anything that looks like a bearer token or JWT from free text (error messages, logs). */
export function redactText(text: string): string {
  return text
    .replace(/(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi, `$1${REDACTED}`)
    .replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g, REDACTED);
}
