import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { UsageCode, UsageError } from "../errors/index.js";

/**
 * A cloud's endpoints, in the shape `az cloud show` prints and `az cloud register --cloud-config` accepts.
 * Only the fields podid reads are typed; the rest are kept as given.
 */
export interface CloudConfig {
  name: string;
  endpoints: {
    resourceManager: string;
    activeDirectory: string;
    activeDirectoryResourceId: string;
    management?: string;
    [other: string]: string | null | undefined;
  };
  suffixes?: Record<string, string | null>;
  profile?: string;
  isActive?: boolean;
}

/** What podid uses of a cloud. */
export interface Cloud {
  name: string;
  /** ARM base URL without trailing slash. */
  resourceManager: string;
  /** Entra ID authority host without trailing slash. */
  authorityHost: string;
  /** Audience of ARM tokens; the scope asked for is this + ".default". */
  armScope: string;
  /** Public clouds are known to MSAL; any other authority needs instance discovery turned off. */
  knownAuthority: boolean;
  /** Where it came from: a built-in name or a file path. */
  source: string;
}

function publicCloud(name: string, resourceManager: string, activeDirectory: string, resourceId: string): CloudConfig {
  return { name, endpoints: { resourceManager, activeDirectory, activeDirectoryResourceId: resourceId, management: resourceId } };
}

export const BUILTIN_CLOUDS: Record<string, CloudConfig> = {
  AzureCloud: publicCloud(
    "AzureCloud",
    "https://management.azure.com/",
    "https://login.microsoftonline.com",
    "https://management.core.windows.net/",
  ),
  AzureChinaCloud: publicCloud(
    "AzureChinaCloud",
    "https://management.chinacloudapi.cn/",
    "https://login.chinacloudapi.cn",
    "https://management.core.chinacloudapi.cn/",
  ),
  AzureUSGovernment: publicCloud(
    "AzureUSGovernment",
    "https://management.usgovcloudapi.net/",
    "https://login.microsoftonline.us",
    "https://management.core.usgovcloudapi.net/",
  ),
};

const KNOWN_AUTHORITIES = new Set(
  Object.values(BUILTIN_CLOUDS).map((c) => new URL(c.endpoints.activeDirectory).host.toLowerCase()),
);

const trimSlash = (s: string) => s.replace(/\/+$/, "");

/** Whether MSAL knows this authority (a public cloud's); any other needs its instance discovery turned off. */
export function isKnownAuthority(authorityHost: string): boolean {
  try {
    return KNOWN_AUTHORITIES.has(new URL(authorityHost).host.toLowerCase());
  } catch {
    return false;
  }
}

export function cloudFromConfig(config: CloudConfig, source: string): Cloud {
  const e = config.endpoints;
  for (const key of ["resourceManager", "activeDirectory", "activeDirectoryResourceId"] as const) {
    const value = e?.[key];
    if (typeof value !== "string" || !/^https?:\/\//.test(value)) {
      throw new UsageError(
        `cloud profile ${source} has no valid endpoints.${key}`,
        "Give a file in the shape `az cloud show` prints (endpoints.resourceManager, endpoints.activeDirectory, endpoints.activeDirectoryResourceId).",
        UsageCode.InvalidCloudProfile,
      );
    }
  }
  const authorityHost = trimSlash(e.activeDirectory);
  return {
    name: config.name,
    resourceManager: trimSlash(e.resourceManager),
    authorityHost,
    armScope: trimSlash(e.activeDirectoryResourceId) + "/.default",
    knownAuthority: isKnownAuthority(authorityHost),
    source,
  };
}

/**
 * Resolves `--cloud NAME|FILE`, else PODID_CLOUD, else AzureCloud. A name is one of the built-in clouds
 * (case-insensitive); anything else is read as a cloud profile file.
 */
export function resolveCloud(nameOrFile?: string, env: NodeJS.ProcessEnv = process.env): Cloud {
  const wanted = nameOrFile ?? env.PODID_CLOUD ?? "AzureCloud";
  const builtin = Object.values(BUILTIN_CLOUDS).find((c) => c.name.toLowerCase() === wanted.toLowerCase());
  if (builtin) return cloudFromConfig(builtin, builtin.name);
  const path = resolve(wanted);
  if (!existsSync(path)) {
    throw new UsageError(
      `unknown cloud '${wanted}': not a built-in cloud and no such file`,
      `Use one of ${Object.keys(BUILTIN_CLOUDS).join(", ")}, or the path of a cloud profile (e.g. .podid/sandbox/cloud.json).`,
      UsageCode.UnknownCloud,
    );
  }
  let config: CloudConfig;
  try {
    config = JSON.parse(readFileSync(path, "utf8")) as CloudConfig;
  } catch (err) {
    throw new UsageError(
      `cloud profile ${path} is not valid JSON: ${(err as Error).message}`,
      "Give a file in the shape `az cloud show` prints.",
      UsageCode.InvalidCloudProfile,
    );
  }
  return cloudFromConfig(config, path);
}
