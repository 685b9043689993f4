/**
 * The api-versions ARM serves per resource type. Real ARM accepts every version a provider ever shipped; the
 * sandbox accepts any well-formed version (GA or preview) dated within each type's real range, so that other
 * SDKs and tools work, and rejects the rest with ARM's error listing the known versions.
 */
export interface ApiVersionRange {
  type: string;
  oldest: string;
  newest: string;
  known: string[];
}

const VERSION = /^(\d{4}-\d{2}-\d{2})(-preview|-beta|-alpha|-privatepreview)?$/;

export const API_VERSIONS = {
  subscriptions: { type: "Microsoft.Resources/subscriptions", oldest: "2014-04-01", newest: "2025-04-01", known: ["2016-06-01", "2020-01-01", "2021-01-01", "2022-12-01"] },
  resourceGroups: { type: "Microsoft.Resources/resourceGroups", oldest: "2014-04-01", newest: "2025-04-01", known: ["2019-10-01", "2021-04-01", "2022-09-01", "2024-03-01"] },
  identities: {
    type: "Microsoft.ManagedIdentity/userAssignedIdentities",
    oldest: "2015-08-31",
    newest: "2025-05-31",
    known: ["2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30"],
  },
  federatedCredentials: {
    type: "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
    oldest: "2022-01-31",
    newest: "2025-05-31",
    known: ["2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30"],
  },
  roleAssignments: {
    type: "Microsoft.Authorization/roleAssignments",
    oldest: "2015-07-01",
    newest: "2022-04-01",
    known: ["2015-07-01", "2017-10-01-preview", "2018-09-01-preview", "2020-04-01-preview", "2020-10-01-preview", "2022-04-01"],
  },
  roleDefinitions: {
    type: "Microsoft.Authorization/roleDefinitions",
    oldest: "2015-07-01",
    newest: "2022-05-01",
    known: ["2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview"],
  },
  managedClusters: {
    type: "Microsoft.ContainerService/managedClusters",
    oldest: "2017-08-31",
    newest: "2025-10-01",
    known: ["2022-09-01", "2023-08-01", "2024-02-01", "2024-09-01", "2025-01-01", "2025-10-01"],
  },
  scaleSets: {
    type: "Microsoft.Compute/virtualMachineScaleSets",
    oldest: "2015-06-15",
    newest: "2025-04-01",
    known: ["2018-06-01", "2021-03-01", "2022-08-01", "2023-03-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01"],
  },
} satisfies Record<string, ApiVersionRange>;

/**
 * Whether ARM can read the api-version at all: a real calendar date (2023-02-30 is not), optionally with a preview
 * suffix. What it cannot read is InvalidApiVersionParameter; what it reads but no provider serves is
 * NoRegisteredProviderFound.
 */
export function isWellFormedVersion(version: string): boolean {
  const m = VERSION.exec(version);
  if (!m) return false;
  const [y, mo, d] = m[1].split("-").map(Number);
  const day = new Date(Date.UTC(y, mo - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d;
}

export function isSupportedVersion(range: ApiVersionRange, version: string): boolean {
  if (!isWellFormedVersion(version)) return false;
  const date = version.slice(0, 10);
  return date >= "2014-01-01" && date >= range.oldest && date <= range.newest;
}
