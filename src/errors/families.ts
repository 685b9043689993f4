import { UsageCode, type AzureCode, type DemoCode, type MigrateCode, type ErrorCode, type InstallCode, type KubernetesCode, type NotFoundCode, type RuntimeCode, type SandboxCode } from "./codes.js";
import { ExitCode } from "./exit-code.js";
import { PodidError, type PodidErrorOptions } from "./podid-error.js";

/** Options of a family error: the family decides the exit code. */
export type FamilyErrorOptions = Omit<PodidErrorOptions, "exitCode">;

/** Bad or missing arguments: exit 2, as the Azure CLI does. */
export class UsageError extends PodidError<UsageCode> {
  constructor(message: string, remedy?: string, code: UsageCode = UsageCode.UsageError) {
    super(code, message, { remedy, exitCode: ExitCode.usage });
    this.name = "UsageError";
  }
}

/** The user stopped the command (Ctrl-C at a prompt or while it ran: exit 130; SIGTERM: 143), reported quietly. */
export class InterruptedError extends PodidError<UsageCode> {
  constructor(message = "cancelled", options: FamilyErrorOptions & { exitCode?: ExitCode } = {}) {
    super(UsageCode.Interrupted, message, { ...options, exitCode: options.exitCode ?? ExitCode.interrupted });
    this.name = "InterruptedError";
  }
}

/** Something the command was asked to show or act on does not exist, whichever family says so: exit 3. */
export class NotFoundError extends PodidError<NotFoundCode> {
  constructor(code: NotFoundCode, message: string, remedy?: string, options: Omit<FamilyErrorOptions, "remedy"> = {}) {
    super(code, message, { ...options, remedy, exitCode: ExitCode.notFound });
    this.name = "NotFoundError";
  }
}

/** A family's class: a PodidError whose code is one of the family's, exit 1. */
function family<C extends ErrorCode>(name: string) {
  const Family = class extends PodidError<C> {
    constructor(code: C, message: string, options: FamilyErrorOptions = {}) {
      super(code, message, options);
      this.name = name;
    }
  };
  Object.defineProperty(Family, "name", { value: name });
  return Family;
}

/** Azure (ARM, Entra ID) refused or failed. */
export const AzureError = family<AzureCode>("AzureError");
export type AzureError = InstanceType<typeof AzureError>;

/** The Kubernetes API could not be reached or refused. */
export const KubernetesError = family<KubernetesCode>("KubernetesError");
export type KubernetesError = InstanceType<typeof KubernetesError>;

/** podid install / uninstall could not complete. */
export const InstallError = family<InstallCode>("InstallError");
export type InstallError = InstanceType<typeof InstallError>;

/** An in-cluster component (MIC, NMI) refuses to run. */
export const RuntimeError = family<RuntimeCode>("RuntimeError");
export type RuntimeError = InstanceType<typeof RuntimeError>;

/** The local sandbox is not running, cannot be reached or refused. */
export const SandboxError = family<SandboxCode>("SandboxError");
export type SandboxError = InstanceType<typeof SandboxError>;

/** The demo did not show what it set out to show. */
export const DemoError = family<DemoCode>("DemoError");
export type DemoError = InstanceType<typeof DemoError>;

/** podid migrate could not complete a phase. */
export const MigrateError = family<MigrateCode>("MigrateError");
export type MigrateError = InstanceType<typeof MigrateError>;
