import { UsageCode, UsageError } from "../errors/index.js";

/**
 * Input checks done before anything is rendered or sent, each failing with the rule that was broken and an
 * example of a good value.
 */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const AZURE_IDENTITY_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Kubernetes label values: at most 63 characters, alphanumerics at the ends, `-_.` inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function checkKubeName(what: string, value: string): string {
  if (value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
    throw new UsageError(
      `${what} '${value}' is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters)`,
      `For example: ${what.includes("namespace") ? "my-namespace" : "my-app-identity"}.`,
      UsageCode.InvalidName,
    );
  }
  return value;
}

export function checkNamespace(value: string): string {
  if (value.length > 63 || !DNS1123_LABEL.test(value)) {
    throw new UsageError(
      `namespace '${value}' is not a valid namespace name: use lowercase letters, digits and '-', starting and ending with a letter or digit (at most 63 characters)`,
      "For example: -n my-namespace.",
      UsageCode.InvalidNamespace,
    );
  }
  return value;
}

export function checkAzureIdentityName(value: string): string {
  if (!AZURE_IDENTITY_NAME.test(value)) {
    throw new UsageError(
      `identity name '${value}' is not valid in Azure: 3 to 128 characters, letters, digits, '-' and '_', starting with a letter or digit`,
      "For example: --name my-app-identity.",
      UsageCode.InvalidIdentityName,
    );
  }
  return value;
}

export function checkGuid(what: string, value: string): string {
  if (!GUID.test(value)) {
    throw new UsageError(`${what} '${value}' is not a GUID`, `Give it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.`, UsageCode.InvalidGuid);
  }
  return value.toLowerCase();
}

export function checkLabelValue(what: string, value: string): string {
  if (value.length === 0 || value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new UsageError(
      `${what} '${value}' is not a valid label value: 1 to 63 characters, letters, digits, '-', '_' and '.', starting and ending with a letter or digit`,
      "For example: --selector my-app.",
      UsageCode.InvalidSelector,
    );
  }
  return value;
}
