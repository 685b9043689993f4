import { CheckSkipped } from "../model.js";
import type { Check } from "../runner.js";

/** 14. `--probe --pod POD`: a token request for that pod through its node's NMI (needs running NMI pods; later). */
export const probeCheck: Check = {
  id: "probe",
  number: 14,
  title: "token request for a pod through its node's NMI",
  notApplicable: (ctx) => (ctx.scope.probe ? undefined : "not asked (--probe --pod POD)"),
  async run(ctx) {
    const pod = ctx.scope.pod ?? "<pod>";
    throw new CheckSkipped(
      `this podid cannot probe through NMI yet; run in the pod: kubectl exec ${pod}${ctx.scope.namespace ? ` -n ${ctx.scope.namespace}` : ""} -- curl -sS -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"`,
    );
  },
};
