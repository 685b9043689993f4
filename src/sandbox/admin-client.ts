import https from "node:https";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxCode, SandboxError } from "../errors/index.js";
import { sandboxLayout } from "./layout.js";
import { readRuntime } from "./lifecycle.js";

const ADMIN_KEY_HEADER = "x-podid-sandbox-key";

/**
 * Calls the running sandbox's control routes (/.sandbox/ on its ARM port) with the admin key from its dir:
 * what `podid sandbox fault` and `settings` use to change a running sandbox.
 */
export async function sandboxAdmin<T>(dir: string, method: string, path: string, body?: unknown): Promise<T> {
  const layout = sandboxLayout(dir);
  const info = readRuntime(layout.dir);
  const keyFile = join(layout.state, "admin-key");
  if (!info || !existsSync(keyFile)) {
    throw new SandboxError(SandboxCode.SandboxNotRunning, `no running sandbox in ${layout.dir}`, { remedy: `Start it first: podid sandbox start --dir ${dir}` });
  }
  const url = new URL(`/.sandbox/${path}`, info.endpoints.resourceManager);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: readFileSync(layout.caCert),
        headers: { [ADMIN_KEY_HEADER]: readFileSync(keyFile, "utf8").trim(), "content-type": "application/json", ...(payload ? { "content-length": String(payload.length) } : {}) },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          const parsed = text ? (JSON.parse(text) as unknown) : undefined;
          if ((res.statusCode ?? 500) >= 400) {
            reject(new SandboxError(SandboxCode.SandboxAdminFailed, `the sandbox refused ${method} ${path}: ${(parsed as { error?: string })?.error ?? res.statusCode}`, { remedy: "Check the values given; see podid sandbox fault --help." }));
          } else resolve(parsed as T);
        });
      },
    );
    req.on("error", (err) => reject(new SandboxError(SandboxCode.SandboxUnreachable, `cannot reach the sandbox at ${url.origin}: ${err.message}`, { remedy: `Check it runs: podid sandbox status --dir ${dir}` })));
    req.end(payload);
  });
}
