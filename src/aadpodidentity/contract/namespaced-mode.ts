import { parseGoBool } from "../../util/go-bool.js";
import { MicFlag } from "./names.js";

/**
 * Namespaced mode for the whole cluster: MIC's and NMI's --forceNamespaced, or the FORCENAMESPACED variable
 * (upstream's cmd/mic and cmd/nmi: `forceNamespaced || "true" == os.Getenv("FORCENAMESPACED")`). The one rule that
 * the runtime commands apply to their parsed flag and that doctor applies to MIC's Deployment as it declares it.
 */

export const FORCE_NAMESPACED_ENV = "FORCENAMESPACED";

/** The flag's value (false when not given), or the variable being exactly "true": either switches it on. */
export function namespacedMode(flag: boolean, env: string | undefined): boolean {
  return flag || env === "true";
}

/** A container as a workload's pod template declares it. */
export interface DeclaredContainer {
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: object }[];
  envFrom?: object[];
}

export interface DeclaredNamespacedMode {
  on: boolean;
  /** Why the declaration alone cannot tell (the variable comes from elsewhere): the mode is then `on` only if that source says "true". */
  unresolved?: string;
}

const FLAG = new RegExp(`^--?${MicFlag.forceNamespaced}(?:=(.*))?$`);

/**
 * Namespaced mode as a container declares it: the last --forceNamespaced among its command and args (Go's flag
 * takes `-forceNamespaced` too; a bare flag is true; a value Go's ParseBool refuses stops MIC, so it counts as
 * off), and FORCENAMESPACED's literal value in env. A value from `valueFrom` or `envFrom` lives in another object
 * (a ConfigMap, a Secret, a field) that the declaration does not show: `unresolved` says so.
 */
export function declaredNamespacedMode(container: DeclaredContainer): DeclaredNamespacedMode {
  let flag = false;
  for (const word of [...(container.command ?? []), ...(container.args ?? [])]) {
    const m = FLAG.exec(word);
    if (m) flag = m[1] === undefined ? true : (parseGoBool(m[1]) ?? false);
  }
  const declared = [...(container.env ?? [])].reverse().find((e) => e.name === FORCE_NAMESPACED_ENV);
  if (flag || (declared && !declared.valueFrom)) return { on: namespacedMode(flag, declared?.value) };
  if (declared?.valueFrom) return { on: false, unresolved: `${FORCE_NAMESPACED_ENV} is set from ${Object.keys(declared.valueFrom).join(", ") || "valueFrom"}, which is not resolved here` };
  if (container.envFrom?.length) return { on: false, unresolved: `envFrom may set ${FORCE_NAMESPACED_ENV}, which is not resolved here` };
  return { on: false };
}
