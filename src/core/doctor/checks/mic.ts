import type { V1Lease } from "@kubernetes/client-node";
import { finding, type Finding } from "../model.js";
import type { Check } from "../runner.js";
import { installFix } from "./fixes.js";
import { eventTime, eventsAbout, isReady, isStarting, isYoung, leaseOf, notReadyReason, podName, workloadRef } from "./runtime-pods.js";
import { NOT_ACTIVE, NOT_ASSIGNED_SEARCH } from "../../../aadpodidentity/contract/messages.js";
import { componentSelector, WORKLOAD_NAMES } from "../../../aadpodidentity/contract/names.js";
import { isActivePod } from "../../../aadpodidentity/pods.js";

/** Warning events on MIC's pods newer than this count as recent. */
const RECENT_MS = 15 * 60_000;
const NO_MIC = `pods labelled aadpodidbinding get no AzureAssignedIdentity, and NMI answers '${NOT_ASSIGNED_SEARCH[0]}'`;

/**
 * 3. MIC: its pods are ready, exactly one of them leads (holds the leader Lease, which is not expired), and no
 * recent Warning events on its pods (probe failures, back-off, scheduling).
 */
export const micCheck: Check = {
  id: "mic",
  number: 3,
  title: "MIC: pods ready, one leader holding the lease, no recent errors",
  async run(ctx) {
    const [{ mic: deployments }, { mic: pods }] = await Promise.all([ctx.runtimeWorkloads(), ctx.runtimePods()]);
    const observed: Record<string, unknown> = { deployments: deployments.map((d) => workloadRef("Deployment", d)) };
    const findings: Finding[] = [];
    if (!deployments.length) {
      findings.push(finding("fail", `MIC is not installed: no Deployment ${WORKLOAD_NAMES.mic.podid} (or ${WORKLOAD_NAMES.mic.upstream}) in any namespace; ${NO_MIC}`, { errors: [...NOT_ASSIGNED_SEARCH], fix: await installFix(ctx), objects: [] }));
      return { observed, findings };
    }
    const live = pods.filter(isActivePod);
    const ready = live.filter(isReady);
    observed.pods = Object.fromEntries(live.map((p) => [podName(p), { ready: isReady(p), node: p.spec?.nodeName, ...(isReady(p) ? {} : { reason: notReadyReason(p) }) }]));
    for (const d of deployments) {
      const ref = workloadRef("Deployment", d);
      const replicas = (d.spec as { replicas?: number } | undefined)?.replicas ?? 1;
      const mine = ready.filter((p) => p.metadata?.namespace === d.metadata?.namespace);
      const starting = live.filter((p) => p.metadata?.namespace === d.metadata?.namespace && isStarting(p));
      if (starting.length) observed.starting = starting.map(podName);
      // Pods that have just started (install, rollout) are given STARTING_GRACE_MS to become ready and to elect.
      if (mine.length === 0 && starting.length) continue;
      if (mine.length === 0) {
        const scale = `kubectl scale deployment ${d.metadata?.name} -n ${d.metadata?.namespace} --replicas=2`;
        const why = replicas === 0 ? "it is scaled to 0 replicas" : live.length ? `its pods are not ready: ${live.map((p) => `${podName(p)} ${notReadyReason(p)}`).join("; ")}` : "it has no pods";
        findings.push(
          finding("fail", `no MIC pod is ready (${ref}: ${why}): nothing creates or assigns AzureAssignedIdentities, so ${NO_MIC}`, {
            errors: [...NOT_ASSIGNED_SEARCH, ...live.map(notReadyReason).filter((r) => /^\w+:/.test(r)).map((r) => r.split(":")[0])],
            fix: replicas === 0 ? `${scale}   # or: ${await installFix(ctx)}` : `${await installFix(ctx)}   # then: kubectl describe pod -n ${d.metadata?.namespace} -l ${componentSelector("mic")}`,
            objects: [ref, ...live.map((p) => `Pod ${podName(p)}`)],
          }),
        );
        continue;
      }
      if (mine.length + starting.length < replicas) {
        const notReady = live.filter((p) => p.metadata?.namespace === d.metadata?.namespace && !isReady(p) && !isStarting(p));
        findings.push(
          finding("warn", `${ref} has ${mine.length} of ${replicas} MIC pods ready${notReady.length ? `: ${notReady.map((p) => `${podName(p)} ${notReadyReason(p)}`).join("; ")}` : ""}; no standby takes over if the leader stops`, {
            fix: `kubectl describe pod -n ${d.metadata?.namespace} -l ${componentSelector("mic")}`,
            objects: [ref, ...notReady.map((p) => `Pod ${podName(p)}`)],
          }),
        );
      }
      // The leader: the Lease's holder is one of the ready pods (its identity is the pod's host name, i.e. its name).
      const where = leaseOf(d);
      const lease = await ctx.read<V1Lease>({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: where });
      const leaseRef = `Lease ${where.namespace}/${where.name}`;
      const holder = lease?.spec?.holderIdentity ?? "";
      const renewed = lease?.spec?.renewTime ? new Date(lease.spec.renewTime as unknown as string).getTime() : 0;
      const expiresAt = renewed + (lease?.spec?.leaseDurationSeconds ?? 15) * 1000;
      const leader = mine.filter((p) => holder && (holder === p.metadata?.name || holder.startsWith(`${p.metadata?.name}-`)));
      observed.lease = { lease: leaseRef, holder: holder || null, renewTime: renewed ? new Date(renewed).toISOString() : null, expired: Date.now() > expiresAt, leader: leader.map(podName) };
      const restart = `kubectl rollout restart deployment ${d.metadata?.name} -n ${d.metadata?.namespace}`;
      if ((!lease || !holder || Date.now() > expiresAt || !leader.length) && mine.some((p) => isYoung(p))) {
        // a MIC pod that has just started may be about to take the lease (its predecessor's may yet have to expire)
      } else if (!lease || !holder) {
        findings.push(finding("fail", `no MIC pod leads: ${leaseRef} ${lease ? "has no holder" : "does not exist"} although ${mine.length} MIC pod(s) are ready; only the leader reconciles`, { errors: [NOT_ACTIVE], fix: `kubectl logs -n ${d.metadata?.namespace} -l ${componentSelector("mic")}   # then: ${restart}`, objects: [ref, leaseRef] }));
      } else if (Date.now() > expiresAt) {
        findings.push(
          finding("fail", `no MIC pod leads: ${leaseRef} is held by '${holder}', expired since ${new Date(expiresAt).toISOString()} and not taken over`, { errors: ["lost leader lease", NOT_ACTIVE], fix: restart, objects: [ref, leaseRef] }),
        );
      } else if (!leader.length) {
        findings.push(
          finding("warn", `${leaseRef} is held by '${holder}', which is not a ready MIC pod (${mine.map(podName).join(", ")}); a ready pod takes over once the lease expires at ${new Date(expiresAt).toISOString()}`, { errors: [NOT_ACTIVE], fix: restart, objects: [ref, leaseRef] }),
        );
      }
    }
    // Recent Warning events on MIC's pods that are not ready or have restarted (a probe failing at start-up is
    // normal and forgotten once the pod is ready), newest first.
    const since = Date.now() - RECENT_MS;
    const troubled = live.filter((p) => !isReady(p) || (p.status?.containerStatuses ?? []).some((s) => (s.restartCount ?? 0) > 0));
    const warnings = (await Promise.all(troubled.map(async (p) => (await eventsAbout(ctx, "Pod", p.metadata?.namespace ?? "", p.metadata?.name ?? "", p.metadata?.uid)).filter((e) => e.type === "Warning" && eventTime(e) >= since).map((e) => ({ pod: p, e })))))
      .flat()
      .sort((a, b) => eventTime(b.e) - eventTime(a.e));
    observed.recentWarnings = warnings.map(({ pod, e }) => `${podName(pod)} ${e.reason}: ${e.message}`);
    if (warnings.length && !findings.some((f) => f.severity === "fail")) {
      const pods = [...new Set(warnings.map(({ pod }) => podName(pod)))];
      findings.push(
        finding("warn", `MIC's pods had ${warnings.length} Warning event(s) in the last 15 minutes, the newest: ${warnings[0].e.reason}: ${warnings[0].e.message}`, {
          errors: [...new Set(warnings.map(({ e }) => e.reason ?? "").filter(Boolean))],
          fix: `kubectl describe pod -n ${warnings[0].pod.metadata?.namespace} ${warnings[0].pod.metadata?.name}`,
          objects: pods.map((p) => `Pod ${p}`),
        }),
      );
    }
    return { observed, findings };
  },
};
