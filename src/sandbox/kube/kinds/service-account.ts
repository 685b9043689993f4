import type { KindSpec } from "../registry/resources.js";
import { plainStrategy } from "../registry/strategy.js";

/** ServiceAccounts: `serviceaccounts/{name}/token` is TokenRequest (token-request.ts). */
export const serviceAccounts: KindSpec = {
  group: "",
  version: "v1",
  kind: "ServiceAccount",
  plural: "serviceaccounts",
  namespaced: true,
  shortNames: ["sa"],
  listRules: { secrets: { type: "map", keys: ["name"] } },
  subresources: [{ name: "token", verbs: ["create"], responseKind: { group: "authentication.k8s.io", version: "v1", kind: "TokenRequest" } }],
  strategy: plainStrategy(),
};
