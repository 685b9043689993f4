import type { Check } from "../runner.js";
import { azureIdentitiesCheck } from "./azure-identities.js";
import { bindingsCheck } from "./bindings.js";
import { clusterCheck } from "./cluster.js";
import { crdsCheck } from "./crds.js";
import { fieldCasingCheck } from "./field-casing.js";
import { kubeletRolesCheck } from "./kubelet-roles.js";
import { networkPluginCheck } from "./network-plugin.js";
import { podLabelsCheck } from "./pod-labels.js";
import { probeCheck } from "./probe.js";
import { exceptionsCheck } from "./exceptions.js";
import { nmiReachableCheck } from "./nmi-reachable.js";
import { scaleSetErrorsCheck } from "./scale-set-errors.js";
import { recreatedIdentityCheck } from "./recreated-identity.js";
import { selectorScopeCheck } from "./selector-scope.js";
import { assignedIdentitiesCheck } from "./assigned-identities.js";
import { micCheck } from "./mic.js";
import { nmiCheck } from "./nmi.js";
import { runtimeVersionCheck } from "./runtime-version.js";
import { scaleSetIdentitiesCheck } from "./scale-set-identities.js";
import { systemExceptionsCheck } from "./system-exceptions.js";
import { wiClusterCheck } from "./wi-cluster.js";
import { wiInjectionCheck } from "./wi-injection.js";
import { wiFederationCheck } from "./wi-federation.js";
import { wiCredentialLimitCheck } from "./wi-credential-limit.js";
import { wiTokenCheck } from "./wi-token.js";
import { wiMigrationCheck } from "./wi-migration.js";

/**
 * Every check, in report order (issue 7's numbering). A new check is one module here plus its line below;
 * checks that need running MIC/NMI pods (3, 4, 11-13, 15, 17, 18, 20) read them through the same context.
 */
export const CHECKS: readonly Check[] = [
  clusterCheck,
  crdsCheck,
  micCheck,
  nmiCheck,
  networkPluginCheck,
  kubeletRolesCheck,
  azureIdentitiesCheck,
  bindingsCheck,
  podLabelsCheck,
  selectorScopeCheck,
  assignedIdentitiesCheck,
  scaleSetIdentitiesCheck,
  exceptionsCheck,
  probeCheck,
  runtimeVersionCheck,
  recreatedIdentityCheck,
  nmiReachableCheck,
  scaleSetErrorsCheck,
  fieldCasingCheck,
  systemExceptionsCheck,
  wiClusterCheck,
  wiInjectionCheck,
  wiFederationCheck,
  wiCredentialLimitCheck,
  wiTokenCheck,
  wiMigrationCheck,
];
