import { rmSync, writeFileSync, existsSync } from "node:fs";
import { sandboxLayout } from "./layout.js";

/** Removes everything the sandbox keeps, for --fresh; the directory itself and its log stay. */
export function wipeSandbox(dir: string): void {
  const layout = sandboxLayout(dir);
  for (const d of [layout.state, layout.pods, layout.nodes]) rmSync(d, { recursive: true, force: true });
  for (const file of [layout.runtime, layout.cloudProfile, layout.caCert, layout.kubeconfig, layout.clientSecret]) {
    rmSync(file, { force: true });
  }
  if (existsSync(layout.log)) writeFileSync(layout.log, "");
}
