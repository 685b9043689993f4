/**
 * A raw TCP client run inside a pod's network namespace (`ip netns exec <pod> node --import tsx this-file`), so
 * that each request leaves exactly as written: no client library normalizes the path or the headers. Reads one
 * JSON command per stdin line — {id, host, port, data (base64), responses, timeoutMs} — connects, writes the
 * bytes and reads until `responses` complete responses arrived, the server closed, or the timeout, then prints
 * {id, data (base64 of all bytes received), closed: "complete" | "server" | "timeout", error?}. It never half-closes:
 * Node's HTTP server drops requests still in progress when the client's FIN arrives.
 */
import { connect } from "node:net";
import { createInterface } from "node:readline";
import { parseResponses } from "./nmi-netns.js";

interface Command {
  id: number;
  host: string;
  port: number;
  data: string;
  /** How many responses to wait for (0: until the server closes or the timeout). */
  responses?: number;
  timeoutMs?: number;
}

type Closed = "complete" | "server" | "timeout";

function exchange(cmd: Command): Promise<{ data: string; closed: Closed; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (closed: Closed, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks).toString("base64"), closed, ...(error ? { error } : {}) });
    };
    const socket = connect(cmd.port, cmd.host, () => socket.write(Buffer.from(cmd.data, "base64")));
    const timer = setTimeout(() => done("timeout"), cmd.timeoutMs ?? 15_000);
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      if (cmd.responses && completeResponses(Buffer.concat(chunks)) >= cmd.responses) done("complete");
    });
    socket.on("close", () => done("server"));
    socket.on("error", (err) => done("server", err.message));
  });
}

/** Responses fully received so far (a body shorter than its Content-Length is not complete). */
function completeResponses(buf: Buffer): number {
  return parseResponses(buf).filter((r) => r.complete).length;
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as Command;
  void exchange(cmd).then((r) => process.stdout.write(JSON.stringify({ id: cmd.id, ...r }) + "\n"));
}
