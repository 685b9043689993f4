import { request } from "node:http";

/**
 * A client of NMI's host-token route (`GET /host/token/?resource=R` with `podname`/`podns` headers): the token
 * request NMI makes on behalf of a named pod of its node. NMI serves it only to callers on the node itself
 * (127.0.0.1 or the node's IP as TCP source); anyone else gets 500 HOST_NOT_ALLOWED (contract/messages.ts).
 */
export interface HostTokenAnswer {
  /** HTTP status; undefined when NMI could not be reached or did not answer in time. */
  status?: number;
  /** NMI's plain-text message (refusals), first line; never the token. */
  message?: string;
  /** On 200: the client id NMI says it used, and when the token expires (the token itself is dropped). */
  clientId?: string;
  expiresOn?: string;
  /** Why NMI could not be asked: connection refused, unreachable, timed out. */
  error?: string;
  timedOut?: boolean;
}

export function askHostToken(input: { host: string; port: number; namespace: string; pod: string; resource: string; clientId?: string; connectTimeoutMs: number; answerTimeoutMs: number }): Promise<HostTokenAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: HostTokenAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(answerTimer);
      req.destroy();
      resolve(a);
    };
    const req = request(
      { host: input.host, port: input.port, agent: false, method: "GET", path: `/host/token/?resource=${encodeURIComponent(input.resource)}${input.clientId ? `&client_id=${encodeURIComponent(input.clientId)}` : ""}`, headers: { podname: input.pod, podns: input.namespace, Metadata: "true" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => done({ error: err.message }));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode === 200) {
            try {
              const parsed = JSON.parse(body) as { clientid?: string; token?: { expires_on?: string | number } };
              const expires = parsed.token?.expires_on;
              done({ status: 200, clientId: parsed.clientid, expiresOn: expires === undefined ? undefined : new Date(Number(expires) * 1000).toISOString() });
            } catch {
              done({ status: 200, message: "NMI answered 200 with a body that is not JSON" });
            }
            return;
          }
          done({ status: res.statusCode, message: body.trim().split("\n")[0] });
        });
      },
    );
    const connectTimer = setTimeout(() => done({ error: `no connection within ${input.connectTimeoutMs} ms`, timedOut: true }), input.connectTimeoutMs);
    let answerTimer: NodeJS.Timeout | undefined;
    req.on("socket", (socket) => {
      const connected = () => {
        clearTimeout(connectTimer);
        answerTimer = setTimeout(() => done({ error: `NMI did not answer within ${input.answerTimeoutMs} ms`, timedOut: true }), input.answerTimeoutMs);
      };
      if (socket.connecting) socket.once("connect", connected);
      else connected();
    });
    req.on("error", (err: NodeJS.ErrnoException) => done({ error: err.code ? `${err.code} ${err.message}` : err.message }));
    req.end();
  });
}
